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
		})
	}
}

func TestContextsSplice(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{"every context": allContexts(t), "more contexts": moreContexts(t)} {
		t.Run(name, func(t *testing.T) {
			r, err := New(fsys, Options{Regions: testRegions(t), PublisherName: "The Brief"})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			for _, rd := range testReaders()[:7] { // readers of several shapes
				p, err := r.Prepare(withReader(fixtureInput(), rd))
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				if !p.Exact() {
					t.Errorf("shape of %+v: templates printing fields as they are fall back: %s", rd, p.Reason())
				}
			}
		})
	}
}

func TestPersonalizeFallsBack(t *testing.T) {
	for _, tt := range fallbackTemplates() {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(templateFS(t, tt.file, tt.content), Options{Regions: testRegions(t)})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			p, err := r.Prepare(fixtureInput())
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
		})
	}
}

func TestSplitPartDetectsCollision(t *testing.T) {
	// A digest whose own text contains the first stand-in: the split
	// finds two slots, but the proof rendering shows the second is text.
	var si standIns
	si.first[escRaw][fieldName] = "XnABC"
	si.second[escRaw][fieldName] = "Zoë & Co"
	only := shapeName | shapeEmail // the other stand-ins are empty: nowhere to be found
	a := "Hello XnABC, see XnABC."
	b := "Hello Zoë & Co, see XnABC."
	if _, err := splitPart(a, b, rawEscapings, &si, only); err == nil {
		t.Fatal("splitPart accepted a split the second rendering contradicts")
	}
	sp, err := splitPart(a, "Hello Zoë & Co, see Zoë & Co.", rawEscapings, &si, only)
	if err != nil {
		t.Fatalf("splitPart: %v", err)
	}
	vals := values{fieldName: "Ada"}
	if got, _ := sp.build(&escaped{raw: &vals}); got != "Hello Ada, see Ada." {
		t.Errorf("build = %q", got)
	}
}

// Prepare gives a slot the first escaping that prints both stand-ins as
// the digest does. That is right only if escapings that print both
// stand-ins alike print every value alike: checked here over every byte,
// characters and strings html/template treats specially, and the hostile
// readers' values, against html/template itself.
func TestStandInsTellContextsApart(t *testing.T) {
	r := newRenderer(t)
	corpus := []string{"", "é", "名前", "\u00a0", "\u2028", "\uFFFD", "\xff\xfe", "a b", "%41", "%4", "%", "%%41", "%zz", "a%4g", "%C3%A9",
		"javascript:alert(1)", "JavaScript:x", "mailto:a@example.com", "HTTPS://example.com/a?b=c&d=e+f#g", "http://x/y", "/a:b", "a/b:c", "x:y", ":",
		"data:text/html,x", "&amp;", "&#43;", "</a>", "-->", "]]>"}
	for c := range 256 {
		corpus = append(corpus, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"b")
	}
	for _, rd := range append(testReaders(), hostileReaders(7, 100)...) {
		corpus = append(corpus, rd.Name, rd.Email, rd.UnsubscribeURL, rd.PreferencesURL)
	}
	si := r.standIns
	distinct := 0
	for f := range numFields {
		for e1 := range numEscapings {
			for e2 := e1 + 1; e2 < numEscapings; e2++ {
				if si.first[e1][f] != si.first[e2][f] || si.second[e1][f] != si.second[e2][f] {
					distinct++
					continue
				}
				for _, s := range corpus {
					x1, err1 := r.esc.escape(e1, s)
					x2, err2 := r.esc.escape(e2, s)
					if x1 != x2 || err1 != nil || err2 != nil {
						t.Errorf("the stand-ins of %s print alike in %s and %s, but %q prints as %q and %q (%v, %v)", f, e1, e2, s, x1, x2, err1, err2)
					}
				}
			}
		}
	}
	if distinct == 0 {
		t.Error("the stand-ins tell no two escapings apart")
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
		if want[i], err = r.renderFull(withReader(base, rd)); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, len(readers))
	for i, rd := range readers { // readers of new shapes race to prepare them
		go func() {
			got, err := p.Personalize(rd)
			if err == nil && got != want[i] {
				err = fmt.Errorf("reader %d: concurrent Personalize differs from a full render", i)
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
	// A reader rendered in full (a link the view cleans up) gets each part
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

// BenchmarkRenderSameDigests is a full render (the templates executed with
// the reader's fields, what a reader would cost without splicing) over
// benchDigests, to compare with BenchmarkPersonalize and BenchmarkPrepare.
func BenchmarkRenderSameDigests(b *testing.B) {
	r := newRenderer(b)
	for _, d := range benchDigests(b) {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.renderFull(d.in); err != nil {
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
// accepts links the view accepts and prints unchanged.
func FuzzPlainWebURL(f *testing.F) {
	for _, u := range []string{"https://brief.example.com/u/1?t=abc", "http://a", "https://-./%41?%zz", "https://a.b:80/", "https://a@b/", "https://a/b c", "https://a/%4", "HTTPS://a/"} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, u string) {
		if plainWebURL(u) && !(webURL(u) && isOneLine(u)) {
			t.Errorf("plainWebURL accepts %q, which the view refuses or reformats", u)
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
// arrange, by index) to sections' sections over random readers: repeated
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
		for _, sec := range sections(r.opts.Regions, in.Subscriber.Regions, in.Briefs) {
			for _, b := range sec.Briefs {
				want = fmt.Appendf(want, "%d@%d.%d,", b.ID, b.UpdatedAt.Unix(), b.UpdatedAt.Nanosecond())
			}
		}
		if got := key[strings.LastIndexByte(key, '|')+1:]; got != string(want) {
			t.Fatalf("reader %d (regions %v): key's briefs %q, sections' %q", n, in.Subscriber.Regions, got, want)
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
