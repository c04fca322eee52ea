package render

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzPersonalize is the property splicing rests on: for any reader,
// Personalize — and PersonalizeSplit, its pieces joined — gives byte for
// byte what executing the templates with that reader's fields gives
// (renderFull): subject, preheader, HTML and text, or the same error. It
// holds over the shipped templates (several digests, prepared from readers
// of different shapes), templates that print the reader's fields in every
// context Prepare splices, and templates it must render in full. Its seeds,
// which plain `go test` runs, are hostile readers: written (testReaders)
// and generated (hostileReaders).
func FuzzPersonalize(f *testing.F) {
	seeds := append(testReaders(), hostileReaders(1, 48)...)
	seeds = append(seeds,
		Reader{Email: "a@example.com"},
		Reader{Email: "a@example.com", UnsubscribeURL: "javascript:alert(1)"},
		Reader{Email: "a@example.com", UnsubscribeURL: "https://e.com/u", PreferencesURL: "/p"},
	)
	for _, rd := range seeds {
		f.Add(rd.Name, rd.Email, rd.UnsubscribeURL, rd.PreferencesURL)
	}
	cases := preparedCases(f)
	f.Fuzz(func(t *testing.T, name, email, unsubscribe, preferences string) {
		rd := Reader{Name: name, Email: email, UnsubscribeURL: unsubscribe, PreferencesURL: preferences}
		for _, c := range cases {
			assertMatchesFull(t, c, rd)
		}
	})
}

// preparedCase is one digest prepared for FuzzPersonalize.
type preparedCase struct {
	name string
	r    *Renderer
	base Input
	p    *Prepared
}

// preparedCases are the digests FuzzPersonalize holds to full renders.
func preparedCases(t testing.TB) []preparedCase {
	t.Helper()
	regions := testRegions(t)
	newWith := func(fsys fstest.MapFS) *Renderer {
		t.Helper()
		r, err := New(fsys, Options{Regions: regions, PublisherName: "The Brief"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return r
	}
	big := fixtureInput()
	big.Subscriber.Regions = regions.Codes()
	big.Briefs = realisticBriefs(regions, 20)
	empty := fixtureInput()
	empty.Briefs = nil
	short := fixtureInput()
	short.Briefs = short.Briefs[:1]
	// Prepared from a reader with neither name nor preferences link, so
	// that readers of the other shapes come later.
	bare := withReader(fixtureInput(), Reader{Email: "a@example.com", UnsubscribeURL: "https://example.com/u/1"})

	shipped, contexts, more := newRenderer(t), newWith(allContexts(t)), newWith(moreContexts(t))
	var cases []preparedCase
	add := func(name string, r *Renderer, base Input) {
		t.Helper()
		p, err := r.Prepare(base)
		if err != nil {
			t.Fatalf("%s: Prepare: %v", name, err)
		}
		cases = append(cases, preparedCase{name: name, r: r, base: base, p: p})
	}
	add("shipped, fixture", shipped, fixtureInput())
	add("shipped, 20 briefs", shipped, big)
	add("shipped, no briefs", shipped, empty)
	add("shipped, prepared for a bare reader", shipped, bare)
	add("every context, long subject", contexts, fixtureInput())
	add("every context, short subject", contexts, short)
	add("more contexts", more, fixtureInput())
	add("more contexts, prepared for a bare reader", more, bare)
	for _, tt := range fallbackTemplates() {
		if !tt.unrepeatable {
			add("falls back: "+tt.name, newWith(templateFS(t, tt.file, tt.content)), fixtureInput())
		}
	}
	return cases
}

// assertMatchesFull checks that c.p.Personalize(rd) is byte for byte what
// a full render of c's input with rd's fields returns, errors included,
// and that PersonalizeSplit joins to it.
func assertMatchesFull(t testing.TB, c preparedCase, rd Reader) {
	t.Helper()
	want, wantErr := c.r.renderFull(withReader(c.base, rd))
	got, err := c.p.Personalize(rd)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("%s, reader %+v: Personalize error %v, full render error %v", c.name, rd, err, wantErr)
	}
	for _, part := range []struct{ name, got, want string }{
		{"subject", got.Subject, want.Subject},
		{"preheader", got.Preheader, want.Preheader},
		{"HTML", got.HTML, want.HTML},
		{"text", got.Text, want.Text},
	} {
		if part.got != part.want {
			t.Errorf("%s, reader %+v: %s differs from a full render's\n%s", c.name, rd, part.name, firstDiff(part.want, part.got))
		}
	}
	assertSplitJoins(t, c.p, rd, got, err)
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

// hostileReaders generates n readers from seed whose names, addresses and
// links mix what HTML and URL escaping, one-lining and the link checks
// treat specially, in every emptiness shape.
func hostileReaders(seed uint64, n int) []Reader {
	rng := rand.New(rand.NewPCG(seed, seed))
	bits := []string{
		"Ada", "Zoë", "O'Brien", `"Co"`, "&", "&amp;", "&#43;", "+", "<b>", "</a>", "<script>", "-->",
		"javascript:", "mailto:", ":", "/", "?", "#", "=", ";", "@", "%41", "%zz", "%", "~", "`", "\\",
		" ", "  ", "\t", "\r\n", "\x00", "\x1b[31m", "\u00a0", "\u0085", "\u2028", "\u200f", "名前", "😀", "\xff",
		"{{.Name}}", "'", `"`, "<", ">", "-", "a",
	}
	word := func(k int) string {
		var b strings.Builder
		for range k {
			b.WriteString(bits[rng.IntN(len(bits))])
		}
		return b.String()
	}
	hosts := []string{"https://brief.example.com", "http://brief.example.com:8080", "HTTPS://Brief.Example.COM", "https://xn--bcher-kva.example"}
	readers := make([]Reader, 0, n)
	for i := range n {
		var rd Reader
		if rng.IntN(4) > 0 {
			rd.Name = word(1 + rng.IntN(6))
			if rng.IntN(10) == 0 {
				rd.Name = strings.Repeat(rd.Name+" ", 30)
			}
		}
		if rng.IntN(8) > 0 {
			rd.Email = word(1+rng.IntN(3)) + "@" + word(1+rng.IntN(2)) + ".example"
		}
		rd.UnsubscribeURL = hosts[rng.IntN(len(hosts))] + "/u/" + strconv.Itoa(i) + "?t=" + word(rng.IntN(4))
		if rng.IntN(3) > 0 {
			rd.PreferencesURL = hosts[rng.IntN(len(hosts))] + "/p/" + strconv.Itoa(i) + "#" + word(rng.IntN(3))
		}
		readers = append(readers, rd)
	}
	return readers
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

// moreContexts puts the reader's fields in the places allContexts leaves
// out: <textarea>, image sources, single-quoted and data- attributes, a
// link's path and fragment, fields side by side with nothing between.
func moreContexts(t testing.TB) fstest.MapFS {
	t.Helper()
	fsys := templateFS(t, htmlFile, `<!DOCTYPE html><html><head><title>{{.Email}}</title></head><body>
<textarea>{{.Name}}</textarea><img src="{{.UnsubscribeURL}}" alt='{{.Name}}'>
<a href='{{.PreferencesURL}}#{{.Email}}'>preferences</a> <a href="mailto:{{.Email}}?subject={{.Name}}">write</a>
<a href="https://example.com/{{.Name}}/{{.Email}}">path</a> <p data-u="{{.UnsubscribeURL}}">{{with .PreferencesURL}}{{.}}{{else}}none{{end}}</p>
{{range .Sections}}{{range .Briefs}}<p>{{.Headline}} for {{$.Email}}{{$.Name}}</p>{{end}}{{end}}
</body></html>`)
	fsys[textFile] = &fstest.MapFile{Data: []byte(`{{.Name}}{{.Email}}{{.UnsubscribeURL}}
{{with .PreferencesURL}}Preferences: {{.}}{{end}}
Dear {{.Name}},
`)}
	fsys[subjectFile] = &fstest.MapFile{Data: []byte(`{{with .Name}}{{.}}, {{end}}your digest for {{.ShortDate}} ({{.Email}})`)}
	return fsys
}

// fallbackTemplate is a template Prepare cannot splice readers into, and
// what Reason must mention.
type fallbackTemplate struct {
	name, file, content string
	reason              []string // substrings of Reason
	unrepeatable        bool     // a full render's output differs from run to run
}

func fallbackTemplates() []fallbackTemplate {
	return []fallbackTemplate{
		{"name wrapped", textFile, "Hello\n{{wrap 30 (printf \"%s, welcome to the digest of today\" .Name)}}\n", []string{"digest.txt.tmpl:2", "Name", "printf"}, false},
		{"name compared", htmlFile, "<p>{{if eq .Name \"Bob\"}}Hi Bob{{end}}</p>", []string{"digest.html.tmpl:1", "Name", "eq"}, false},
		{"email measured", textFile, "{{if gt (len .Email) 20}}long address{{end}}", []string{"digest.txt.tmpl:1", "Email", "len"}, false},
		{"name truncated", subjectFile, "{{printf \"%.8s\" .Name}} {{.ShortDate}}", []string{"subject.txt.tmpl:1", "printf"}, false},
		{"email in a script", htmlFile, "<p>x</p><script>var who = {{.Email}};</script>", []string{"digest.html.tmpl", "Email"}, false},
		{"email in style", htmlFile, "<p style=\"font-family: {{.Email}}\">x</p>", []string{"digest.html.tmpl", "Email"}, false},
		{"unquoted attribute", htmlFile, "<p title={{.Name}}>x</p>", []string{"digest.html.tmpl", "Name"}, false},
		{"view to a template", htmlFile, "{{define \"who\"}}{{.Email}}{{end}}<p>{{template \"who\" .}}</p>", []string{"digest.html.tmpl:1", "who"}, false},
		{"field in a variable", textFile, "{{$e := .Email}}{{$e}}", []string{"digest.txt.tmpl:1", "variable"}, false},
		{"name upper-cased", textFile, "{{.Name | upper}}", []string{"digest.txt.tmpl:1", "piped to upper"}, false},
		{"whole view printed", htmlFile, "<p>{{.}}</p>", []string{"digest.html.tmpl:1", "whole view"}, true},
		{"with a variable", textFile, "{{with $n := .Name}}{{$n}}{{end}}", []string{"digest.txt.tmpl:1", "variable"}, false},
	}
}
