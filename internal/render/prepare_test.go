package render

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode"

	digest "github.com/newsroom/digest"
)

// withReader returns base with rd's personal fields.
func withReader(base Input, rd Reader) Input {
	base.Subscriber.Name, base.Subscriber.Email = rd.Name, rd.Email
	base.UnsubscribeURL, base.PreferencesURL = rd.UnsubscribeURL, rd.PreferencesURL
	return base
}

// assertSpliced checks that p.Personalize(rd) is byte for byte what
// r.Render returns for the group's input with rd's fields, errors included.
func assertSpliced(t testing.TB, r *Renderer, p *Prepared, base Input, rd Reader) {
	t.Helper()
	want, wantErr := r.Render(withReader(base, rd))
	got, err := p.Personalize(rd)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("reader %+v: Personalize error %v, Render error %v", rd, err, wantErr)
	}
	for _, part := range []struct{ name, got, want string }{
		{"subject", got.Subject, want.Subject},
		{"preheader", got.Preheader, want.Preheader},
		{"HTML", got.HTML, want.HTML},
		{"text", got.Text, want.Text},
	} {
		if part.got != part.want {
			t.Errorf("reader %+v: %s differs from Render's\n%s", rd, part.name, firstDiff(part.want, part.got))
		}
	}
	assertSplitJoins(t, p, rd, got, err)
}

// assertSplitJoins checks that p.PersonalizeSplit(rd), into a Split used
// before, joins to want, Personalize's output or error for rd.
func assertSplitJoins(t testing.TB, p *Prepared, rd Reader, want Output, wantErr error) {
	t.Helper()
	split := Split{HTML: Pieces{Values: []string{"left", "over"}}, Text: Pieces{Values: []string{"from before"}}}
	err := p.PersonalizeSplit(rd, &split)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("reader %+v: PersonalizeSplit error %v, Personalize error %v", rd, err, wantErr)
	}
	if err != nil {
		return
	}
	for _, part := range []struct {
		name string
		got  Pieces
		want string
	}{
		{"HTML", split.HTML, want.HTML},
		{"text", split.Text, want.Text},
	} {
		if len(part.got.Fixed) != len(part.got.Values)+1 {
			t.Errorf("reader %+v: %s in %d pieces with %d values", rd, part.name, len(part.got.Fixed), len(part.got.Values))
			continue
		}
		if got := part.got.String(); got != part.want {
			t.Errorf("reader %+v: %s in pieces differs from Personalize's\n%s", rd, part.name, firstDiff(part.want, got))
		}
		if part.got.Len() != len(part.want) {
			t.Errorf("reader %+v: %s pieces Len %d, want %d", rd, part.name, part.got.Len(), len(part.want))
		}
	}
	if split.Subject != want.Subject || split.Preheader != want.Preheader {
		t.Errorf("reader %+v: PersonalizeSplit subject %q, preheader %q; Personalize's %q, %q",
			rd, split.Subject, split.Preheader, want.Subject, want.Preheader)
	}
}

// testReaders are readers of every emptiness shape, with the characters
// escaping treats specially in names, addresses and links.
func testReaders() []Reader {
	u := func(id int, rest string) string { return fmt.Sprintf("https://brief.example.com/u/%d?t=%s", id, rest) }
	p := func(id int, rest string) string { return fmt.Sprintf("https://brief.example.com/p/%d?t=%s", id, rest) }
	return []Reader{
		{"Adaeze Okonkwo-Brandt", "adaeze@example.com", u(1, "abc"), p(1, "abc")},
		{"Zoë Lambert", "zoe+digest@example.com", u(2, "q+r/s"), p(2, "x")},
		{"Tom & Jerry", "t&j@example.com", u(3, "a&b=c"), ""},
		{`Dwayne "The Rock" O'Neil`, `"rock"+1@example.com`, u(4, "'\""), p(4, "<>")},
		{"", "noname@example.com", u(5, "x"), ""},
		{"", "noname+prefs@example.com", u(6, "x"), p(6, "y")},
		{"   ", "blank@example.com", u(7, "x"), p(7, "y")},
		{"Line\r\nBreak\tName  with  spaces ", " padded@example.com\n", u(8, "x"), p(8, "y")},
		{"<script>alert(1)</script>", "<b>x</b>@example.com", u(9, "<script>"), p(9, "</a>")},
		{"名前 テスト", "名前@例え.jp", u(10, "é"), p(10, "名")},
		{"A+B=C", "a+b+c@example.com", u(11, "+++"), p(11, "%2B%41")},
		{strings.Repeat("Very Long Name ", 20), strings.Repeat("e", 200) + "@example.com", u(12, strings.Repeat("9", 400)), p(12, strings.Repeat("z", 3))},
		{"No Email", "", u(13, "x"), p(13, "y")},
		{"", "", u(14, "x"), ""},
		{"javascript:alert(1)", "mailto:x@example.com", "HTTPS://Brief.Example.COM/U/15", "http://brief.example.com/p/15#frag"},
		{"Odd Links", "odd@example.com", "https://brief.example.com/u/a b?x='\"<>&+é~%41%zz", "https://brief.example.com/p/%41?q=a b"},
		{"NBSP Link", "nbsp@example.com", "https://brief.example.com/u/a\u00a0b", "https://brief.example.com/p/a\u0085b"},
		{"Invalid UTF-8 \xff name", "bad\xfe@example.com", "https://brief.example.com/u/\xff", ""},
		{"Ampersand&amp;Entity", "x&#43;@example.com", u(19, "&amp;"), p(19, "&#43;")},
	}
}

func TestShippedTemplatesSplice(t *testing.T) {
	r := newRenderer(t)
	for _, rd := range testReaders()[:7] { // Prepared from readers of several shapes
		in := withReader(fixtureInput(), rd)
		p, err := r.Prepare(in)
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if !p.Exact() {
			t.Errorf("shape of %+v: the shipped templates fall back to full renders: %s", rd, p.Reason())
		}
	}
}

func TestPersonalizeMatchesRender(t *testing.T) {
	r := newRenderer(t)
	big := fixtureInput()
	big.Subscriber.Regions = testRegions(t).Codes()
	big.Briefs = realisticBriefs(testRegions(t), 20)
	empty := fixtureInput()
	empty.Briefs = nil
	for name, base := range map[string]Input{"fixture": fixtureInput(), "20 briefs": big, "no briefs": empty} {
		t.Run(name, func(t *testing.T) {
			p, err := r.Prepare(base)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			for _, rd := range testReaders() {
				assertSpliced(t, r, p, base, rd)
			}
		})
	}
}

func TestPersonalizeOtherShapeFirst(t *testing.T) {
	// Prepared for a reader without a name or preferences link; then a
	// reader with both, whose digest greets them and links preferences.
	r := newRenderer(t)
	base := withReader(fixtureInput(), Reader{Email: "a@example.com", UnsubscribeURL: "https://example.com/u/1"})
	p, err := r.Prepare(base)
	if err != nil {
		t.Fatal(err)
	}
	rd := Reader{Name: "Ngozi", Email: "n@example.com", UnsubscribeURL: "https://example.com/u/2", PreferencesURL: "https://example.com/p/2"}
	out, err := p.Personalize(rd)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Text, "Hello, Ngozi.") || !strings.Contains(out.HTML, `<a href="https://example.com/p/2"`) {
		t.Errorf("reader with a name and preferences link got the digest of a reader without:\n%s", out.Text)
	}
	assertSpliced(t, r, p, base, rd)
}

func TestPersonalizeRejectsBadLinks(t *testing.T) {
	r := newRenderer(t)
	p, err := r.Prepare(fixtureInput())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		rd    Reader
		field string
	}{
		{"no unsubscribe link", Reader{Email: "a@example.com"}, "unsubscribe URL"},
		{"unsubscribe not http", Reader{Email: "a@example.com", UnsubscribeURL: "javascript:alert(1)"}, "unsubscribe URL"},
		{"preferences relative", Reader{Email: "a@example.com", UnsubscribeURL: "https://e.com/u", PreferencesURL: "/p"}, "preferences URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Personalize(tt.rd)
			var fe *digest.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(err.Error(), tt.rd.Email) {
				t.Errorf("Personalize: err = %v, want a field error on %q naming %s", err, tt.field, tt.rd.Email)
			}
			assertSpliced(t, r, p, fixtureInput(), tt.rd)
		})
	}
}

// allContexts are templates that print every reader field in every
// context Personalize splices into: HTML text, quoted attributes, <title>,
// whole URLs, URL paths and queries, with and without {{with}}, inside
// {{range}} through $, and a subject that gets cut to length.
func allContexts(t testing.TB) fstest.MapFS {
	t.Helper()
	fsys := templateFS(t, htmlFile, `<!DOCTYPE html><html><head><title>{{.Name}} · {{.Date}}</title></head><body>
<p title="{{.Name}}" data-x='{{.Email}}'>Hello, {{.Name}}. {{with .Name}}Again: {{.}}.{{end}}</p>
<a href="mailto:{{.Email}}">{{.Email}}</a> <a href="https://example.com/feedback?from={{.Email}}&amp;n={{.Name}}#{{.Name}}">feedback</a>
<a href="{{.Name}}">name as a link</a> <a href="{{.UnsubscribeURL}}">{{.UnsubscribeURL}}</a> <a href="/go?to={{.UnsubscribeURL}}">again</a>
{{if .PreferencesURL}}<a href='{{.PreferencesURL}}'>preferences</a>{{else}}no preferences{{end}}
{{if and .Name (not .PreferencesURL)}}<p>named, no preferences</p>{{end}}
{{range .Sections}}<h2>{{.Name}} for {{$.Name}}</h2>{{range .Briefs}}<h3>{{.Headline}}</h3>{{.BodyHTML}}{{end}}{{end}}
</body></html>`)
	fsys[textFile] = &fstest.MapFile{Data: []byte(`{{with .Name}}Hello, {{.}}.{{end}}
{{.Email}}  {{.Email}}   
{{range .Sections}}{{.Name}} {{$.Name}}
{{range .Briefs}}{{wrap 72 .Headline}}
{{end}}{{end}}
{{.UnsubscribeURL}}
{{.PreferencesURL}}
`)}
	fsys[subjectFile] = &fstest.MapFile{Data: []byte(`{{.Name}}: {{.ShortDate}} {{range .Sections}}{{range .Briefs}}{{.Headline}} {{end}}{{end}} {{.Email}}`)}
	return fsys
}

func TestPersonalizeAllContexts(t *testing.T) {
	r, err := New(allContexts(t), Options{Regions: testRegions(t), PublisherName: "The Brief"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	short := fixtureInput()
	short.Briefs = short.Briefs[:1]
	for name, base := range map[string]Input{"long subject": fixtureInput(), "short subject": short} {
		t.Run(name, func(t *testing.T) {
			p, err := r.Prepare(base)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if !p.Exact() {
				t.Fatalf("templates printing fields as they are fall back: %s", p.Reason())
			}
			for _, rd := range testReaders() {
				assertSpliced(t, r, p, base, rd)
			}
		})
	}
}

func TestPersonalizeFallsBack(t *testing.T) {
	tests := []struct {
		name, file, content string
		reason              []string // substrings of Reason
		unrepeatable        bool     // Render's own output differs from run to run
	}{
		{"name wrapped", textFile, "Hello\n{{wrap 30 (printf \"%s, welcome to the digest of today\" .Name)}}\n", []string{"digest.txt.tmpl:2", "Name", "printf"}, false},
		{"name compared", htmlFile, "<p>{{if eq .Name \"Bob\"}}Hi Bob{{end}}</p>", []string{"digest.html.tmpl:1", "Name", "eq"}, false},
		{"email measured", textFile, "{{if gt (len .Email) 20}}long address{{end}}", []string{"digest.txt.tmpl:1", "Email", "len"}, false},
		{"name truncated", subjectFile, "{{printf \"%.8s\" .Name}} {{.ShortDate}}", []string{"subject.txt.tmpl:1", "printf"}, false},
		{"email in a script", htmlFile, "<p>x</p><script>var who = {{.Email}};</script>", []string{"digest.html.tmpl:1", "jsvalescaper"}, false},
		{"email in style", htmlFile, "<p style=\"font-family: {{.Email}}\">x</p>", []string{"digest.html.tmpl:1", "Email"}, false},
		{"unquoted attribute", htmlFile, "<p title={{.Name}}>x</p>", []string{"digest.html.tmpl:1", "nospaceescaper"}, false},
		{"view to a template", htmlFile, "{{define \"who\"}}{{.Email}}{{end}}<p>{{template \"who\" .}}</p>", []string{"digest.html.tmpl:1", "who"}, false},
		{"field in a variable", textFile, "{{$e := .Email}}{{$e}}", []string{"digest.txt.tmpl:1", "variable"}, false},
		{"name upper-cased", textFile, "{{.Name | upper}}", []string{"digest.txt.tmpl:1", "piped to upper"}, false},
		{"whole view printed", htmlFile, "<p>{{.}}</p>", []string{"digest.html.tmpl:1", "whole view"}, true},
		{"with a variable", textFile, "{{with $n := .Name}}{{$n}}{{end}}", []string{"digest.txt.tmpl:1", "variable"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(templateFS(t, tt.file, tt.content), Options{Regions: testRegions(t)})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			base := fixtureInput()
			p, err := r.Prepare(base)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if p.Exact() {
				t.Fatalf("Prepare splices a template that does more than print the reader's fields")
			}
			for _, want := range tt.reason {
				if !strings.Contains(p.Reason(), want) {
					t.Errorf("reason %q does not mention %q", p.Reason(), want)
				}
			}
			if tt.unrepeatable {
				return
			}
			for _, rd := range testReaders() {
				assertSpliced(t, r, p, base, rd)
			}
		})
	}
}

func TestSplitPartDetectsCollision(t *testing.T) {
	// A digest whose own text contains the first stand-in: the split
	// finds two slots, but the proof rendering shows the second is text.
	first := values{fieldName: "XnABC"}
	second := values{fieldName: "Zoë & Co"}
	uses := fieldUses{fieldName: 1 << escRaw}
	a := "Hello XnABC, see XnABC."
	b := "Hello Zoë & Co, see XnABC."
	if _, err := splitPart(a, b, &uses, &first, &second); err == nil {
		t.Fatal("splitPart accepted a split the second rendering contradicts")
	}
	sp, err := splitPart(a, "Hello Zoë & Co, see Zoë & Co.", &uses, &first, &second)
	if err != nil {
		t.Fatalf("splitPart: %v", err)
	}
	vals := values{fieldName: "Ada"}
	if got := sp.build(&vals); got != "Hello Ada, see Ada." {
		t.Errorf("build = %q", got)
	}
}

func TestEscapersMatchHTMLTemplate(t *testing.T) {
	if err := checkEscapers(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentPersonalize(t *testing.T) {
	r := newRenderer(t)
	base := fixtureInput()
	p, err := r.Prepare(base)
	if err != nil {
		t.Fatal(err)
	}
	readers := testReaders()
	want := make([]Output, len(readers))
	for i, rd := range readers {
		if want[i], err = r.Render(withReader(base, rd)); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, len(readers))
	for i, rd := range readers { // readers of new shapes race to prepare them
		go func() {
			got, err := p.Personalize(rd)
			if err == nil && got != want[i] {
				err = fmt.Errorf("reader %d: concurrent Personalize differs from Render", i)
			}
			errs <- err
		}()
	}
	for range readers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestPersonalizeAllocatesOnlyOutput(t *testing.T) {
	r := newRenderer(t)
	p, err := r.Prepare(fixtureInput())
	if err != nil {
		t.Fatal(err)
	}
	rd := testReaders()[1]
	if _, err := p.Personalize(rd); err != nil {
		t.Fatal(err)
	}
	// The HTML and the text part; the subject and preheader print no
	// reader field, so they are shared.
	if n := testing.AllocsPerRun(20, func() { _, _ = p.Personalize(rd) }); n > 2 {
		t.Errorf("Personalize allocates %v times per reader, want 2", n)
	}
}

func TestPersonalizeSplitSharesPieces(t *testing.T) {
	r := newRenderer(t)
	p, err := r.Prepare(fixtureInput())
	if err != nil {
		t.Fatal(err)
	}
	readers := testReaders()
	var first, again Split
	if err := p.PersonalizeSplit(readers[0], &first); err != nil {
		t.Fatal(err)
	}
	// A reader of the same shape, whose name and links escaping changes.
	if err := p.PersonalizeSplit(readers[3], &again); err != nil {
		t.Fatal(err)
	}
	if !first.Shared || !again.Shared {
		t.Fatalf("readers of the shipped templates are not spliced: Shared %v, %v", first.Shared, again.Shared)
	}
	if &first.HTML.Fixed[0] != &again.HTML.Fixed[0] || &first.Text.Fixed[0] != &again.Text.Fixed[0] {
		t.Error("two readers of one shape got pieces of their own, not the Prepared's")
	}
	// A reader rendered in full (a link Render cleans up) gets each part
	// whole, not shared.
	odd := readers[0]
	odd.UnsubscribeURL = "https://brief.example.com/u/a  b"
	var full Split
	if err := p.PersonalizeSplit(odd, &full); err != nil {
		t.Fatal(err)
	}
	if full.Shared || len(full.HTML.Fixed) != 1 || len(full.HTML.Values) != 0 {
		t.Errorf("a reader rendered in full: Shared %v, %d HTML pieces", full.Shared, len(full.HTML.Fixed))
	}
	// A reader whose values escaping leaves alone costs no allocation.
	plain := Reader{Name: "Ada Obi", Email: "ada@example.com", UnsubscribeURL: "https://brief.example.com/u/1?t=abc", PreferencesURL: "https://brief.example.com/p/1"}
	if n := testing.AllocsPerRun(20, func() { _ = p.PersonalizeSplit(plain, &first) }); n > 0 {
		t.Errorf("PersonalizeSplit allocates %v times for a reader with plain values, want 0", n)
	}
}

func TestGroupKey(t *testing.T) {
	r := newRenderer(t)
	key := func(edit func(*Input)) string {
		t.Helper()
		in := fixtureInput()
		edit(&in)
		k, err := r.GroupKey(in)
		if err != nil {
			t.Fatalf("GroupKey: %v", err)
		}
		return k
	}
	base := key(func(*Input) {})
	same := []struct {
		name string
		edit func(*Input)
	}{
		{"other reader", func(in *Input) {
			in.Subscriber.ID, in.Subscriber.Name, in.Subscriber.Email = 9, "", "b@example.com"
			in.UnsubscribeURL, in.PreferencesURL = "https://e.com/u/9", ""
		}},
		{"later the same local day", func(in *Input) { in.Now = in.Now.Add(3 * time.Hour) }},
		{"other zone, same date", func(in *Input) { in.Subscriber.TimeZone = "Europe/Brussels" }},
		{"extra brief of a region not followed", func(in *Input) {
			in.Briefs = append(in.Briefs, digest.Brief{ID: 99, Region: "sao-paulo", PublishedAt: fixedNow})
		}},
		{"briefs in another order", func(in *Input) {
			in.Briefs[0], in.Briefs[1] = in.Briefs[1], in.Briefs[0]
		}},
		{"unknown region code", func(in *Input) { in.Subscriber.Regions = append(in.Subscriber.Regions, "atlantis") }},
	}
	for _, tt := range same {
		if k := key(tt.edit); k != base {
			t.Errorf("%s: key %q, want %q", tt.name, k, base)
		}
	}
	differ := []struct {
		name string
		edit func(*Input)
	}{
		{"other region order", func(in *Input) { in.Subscriber.Regions = []string{"brussels", "lagos", "singapore"} }},
		{"region without briefs", func(in *Input) { in.Subscriber.Regions = append(in.Subscriber.Regions, "new-york") }},
		{"other date in the reader's zone", func(in *Input) { in.Subscriber.TimeZone = "Pacific/Honolulu" }},
		{"a brief fewer", func(in *Input) { in.Briefs = in.Briefs[1:] }},
		{"a brief edited", func(in *Input) { in.Briefs[0].UpdatedAt = fixedNow }},
	}
	for _, tt := range differ {
		if k := key(tt.edit); k == base {
			t.Errorf("%s: key unchanged %q", tt.name, k)
		}
	}
	in := fixtureInput()
	in.Subscriber.TimeZone = "Mars/Olympus"
	var fe *digest.FieldError
	if _, err := r.GroupKey(in); !errors.As(err, &fe) || fe.Field != "time_zone" {
		t.Errorf("GroupKey with an unknown zone: err = %v, want a time_zone field error", err)
	}
}

// FuzzPersonalize checks that splicing any name, address and link tail
// into a prepared digest gives what Render gives, with the shipped
// templates and with templates printing the fields in every context.
func FuzzPersonalize(f *testing.F) {
	for _, rd := range testReaders() {
		f.Add(rd.Name, rd.Email, strings.TrimPrefix(rd.UnsubscribeURL, "https://brief.example.com/"))
	}
	shipped := newRenderer(f)
	contexts, err := New(allContexts(f), Options{Regions: testRegions(f), PublisherName: "The Brief"})
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	base := fixtureInput()
	var prepared []*Prepared
	for _, r := range []*Renderer{shipped, contexts} {
		p, err := r.Prepare(base)
		if err != nil {
			f.Fatalf("Prepare: %v", err)
		}
		prepared = append(prepared, p)
	}
	f.Fuzz(func(t *testing.T, name, email, tail string) {
		rd := Reader{Name: name, Email: email, UnsubscribeURL: "https://brief.example.com/" + tail}
		if len(tail)%2 == 1 {
			rd.PreferencesURL = "https://brief.example.com/p?" + tail
		}
		for i, r := range []*Renderer{shipped, contexts} {
			assertSpliced(t, r, prepared[i], base, rd)
		}
	})
}

// benchDigests are the digests the Prepare and Personalize benchmarks
// use: a typical one of about 30 KB (HTML and text) and the 20-brief one
// of BenchmarkRender.
func benchDigests(b *testing.B) []struct {
	name string
	in   Input
} {
	var out []struct {
		name string
		in   Input
	}
	for _, n := range []int{6, 20} {
		in := fixtureInput()
		in.Subscriber.Regions = testRegions(b).Codes()
		in.Briefs = realisticBriefs(testRegions(b), n)
		out = append(out, struct {
			name string
			in   Input
		}{fmt.Sprintf("%d briefs", n), in})
	}
	return out
}

// benchPrepared runs bench for each of benchDigests, prepared (exactly,
// without the full-render fallback), with its reader.
func benchPrepared(b *testing.B, bench func(b *testing.B, p *Prepared, rd Reader)) {
	r := newRenderer(b)
	for _, d := range benchDigests(b) {
		b.Run(d.name, func(b *testing.B) {
			p, err := r.Prepare(d.in)
			if err != nil {
				b.Fatal(err)
			}
			if !p.Exact() {
				b.Fatalf("fallback: %s", p.Reason())
			}
			bench(b, p, ReaderOf(d.in))
		})
	}
}

func BenchmarkPersonalize(b *testing.B) {
	benchPrepared(b, func(b *testing.B, p *Prepared, rd Reader) {
		var size int
		b.ReportAllocs()
		for b.Loop() {
			out, err := p.Personalize(rd)
			if err != nil {
				b.Fatal(err)
			}
			size = len(out.HTML) + len(out.Text)
		}
		b.ReportMetric(float64(size), "bytes/digest")
	})
}

// BenchmarkPersonalizeSplit is BenchmarkPersonalize for the form the
// workers of a pass use, into a Split reused from reader to reader.
func BenchmarkPersonalizeSplit(b *testing.B) {
	benchPrepared(b, func(b *testing.B, p *Prepared, rd Reader) {
		var split Split
		b.ReportAllocs()
		for b.Loop() {
			if err := p.PersonalizeSplit(rd, &split); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRenderSameDigests is BenchmarkRender over benchDigests, to
// compare with BenchmarkPersonalize and BenchmarkPrepare.
func BenchmarkRenderSameDigests(b *testing.B) {
	r := newRenderer(b)
	for _, d := range benchDigests(b) {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Render(d.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPrepare(b *testing.B) {
	r := newRenderer(b)
	for _, d := range benchDigests(b) {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Prepare(d.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestCleanTextAgreesWithMap(t *testing.T) {
	for _, s := range []string{"", "plain\ttext\n", "a\rb", "a\x00b", "a\x7fb", "Zoë", "a\u0085b", "a\u2028b", "a\u2029b", "a\xffb", "\xe2\x80", "€ \uFFFD", "a\u00a0b"} {
		mapped := strings.Map(func(r rune) rune { return r }, s) // invalid UTF-8 becomes U+FFFD
		want := mapped == s && !strings.ContainsFunc(s, func(r rune) bool {
			return r != '\n' && r != '\t' && (unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp))
		})
		if got := cleanText(s); got != want {
			t.Errorf("cleanText(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzPlainWebURL checks that the quick link check Personalize uses only
// accepts links Render accepts and prints unchanged.
func FuzzPlainWebURL(f *testing.F) {
	for _, u := range []string{"https://brief.example.com/u/1?t=abc", "http://a", "https://-./%41?%zz", "https://a.b:80/", "https://a@b/", "https://a/b c", "https://a/%4", "HTTPS://a/"} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, u string) {
		if plainWebURL(u) && !(webURL(u) && isOneLine(u)) {
			t.Errorf("plainWebURL accepts %q, which Render refuses or reformats", u)
		}
	})
}

func TestPrepareErrors(t *testing.T) {
	r := newRenderer(t)
	// The first reader's own fields do not decide whether the group renders.
	in := withReader(fixtureInput(), Reader{Name: "A", Email: "a@example.com", UnsubscribeURL: "not a link"})
	p, err := r.Prepare(in)
	if err != nil {
		t.Fatalf("Prepare with a reader's broken link: %v", err)
	}
	if _, err := p.Personalize(ReaderOf(in)); err == nil {
		t.Errorf("Personalize accepted the broken link")
	}
	// The digest's own problems fail the group, naming the field.
	in = fixtureInput()
	in.Subscriber.TimeZone = "Mars/Olympus"
	var fe *digest.FieldError
	if _, err := r.Prepare(in); !errors.As(err, &fe) || fe.Field != "time_zone" {
		t.Errorf("Prepare with an unknown zone: err = %v, want a time_zone field error", err)
	}
}

// TestGroupKeyFollowsArrange holds the briefs GroupKey lists (through
// arrange, by index) to Arrange's sections over random readers: repeated
// and unknown region codes, briefs of regions not followed, and
// publication times that tie.
func TestGroupKeyFollowsArrange(t *testing.T) {
	r := newRenderer(t)
	rng := rand.New(rand.NewPCG(7, 7))
	codes := []string{"lagos", "brussels", "singapore", "new-york", "atlantis"}
	for n := range 300 {
		in := fixtureInput()
		in.Subscriber.Regions = nil
		for range 1 + rng.IntN(5) {
			in.Subscriber.Regions = append(in.Subscriber.Regions, codes[rng.IntN(len(codes))])
		}
		in.Briefs = nil
		for i := range rng.IntN(12) {
			in.Briefs = append(in.Briefs, digest.Brief{
				ID: int64(100 + i), Region: codes[rng.IntN(len(codes))],
				PublishedAt: fixedNow.Add(-time.Duration(rng.IntN(4)) * time.Hour),
				UpdatedAt:   fixedNow.Add(time.Duration(rng.IntN(1000)) * time.Millisecond),
			})
		}
		key, err := r.GroupKey(in)
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		for _, sec := range Arrange(r.opts.Regions, in.Subscriber.Regions, in.Briefs) {
			for _, b := range sec.Briefs {
				want = fmt.Appendf(want, "%d@%d.%d,", b.ID, b.UpdatedAt.Unix(), b.UpdatedAt.Nanosecond())
			}
		}
		if got := key[strings.LastIndexByte(key, '|')+1:]; got != string(want) {
			t.Fatalf("reader %d (regions %v): key's briefs %q, Arrange's %q", n, in.Subscriber.Regions, got, want)
		}
	}
}

// BenchmarkGroupKey measures the key a pass computes for every reader.
func BenchmarkGroupKey(b *testing.B) {
	r := newRenderer(b)
	in := fixtureInput()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.GroupKey(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGroupKeyOwnZone is GroupKey for a reader whose zone is no
// region's, which the Renderer loads once and keeps.
func BenchmarkGroupKeyOwnZone(b *testing.B) {
	r := newRenderer(b)
	in := fixtureInput()
	in.Subscriber.TimeZone = "America/Chicago"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.GroupKey(in); err != nil {
			b.Fatal(err)
		}
	}
}
