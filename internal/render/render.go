// Package render turns a reader's digest — subscriber, briefs, links — into
// the subject, preheader, HTML and plain text of one email. It owns the
// email templates' data (the view) and the conversion of brief Markdown
// into sanitized, inline-styled HTML and readable plain text. It knows
// nothing of SMTP or SQL: the delivery pass and the editors' preview call
// it with data they loaded.
package render

import (
	"bytes"
	"crypto/rand"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	"sync"
	texttemplate "text/template"
	"text/template/parse"
	"time"

	digest "github.com/newsroom/digest"
)

// Template file names, as found in the templates FS.
const (
	htmlFile    = "digest.html.tmpl"
	textFile    = "digest.txt.tmpl"
	subjectFile = "subject.txt.tmpl"
)

// Options configures a Renderer.
type Options struct {
	Regions       digest.Regions // configured regions (names, zones)
	PublisherName string         // e.g. "The Regional Brief"; shown in header and footer
	PostalAddress string         // footer; may span several lines
}

// Renderer renders digests from parsed templates. It is safe for concurrent
// use.
type Renderer struct {
	opts        Options
	postalLines []string
	html        *htmltemplate.Template
	text        *texttemplate.Template
	subject     *texttemplate.Template
	confirm     *confirmTemplates // the double opt-in email (confirm.go)
	md          *markdown
	mdCache     mdCache // rendered Markdown, shared by every reader of a pass
	// esc prints a reader's field in each HTML context, and standIns are
	// what Prepare renders in place of the fields (see splitPart).
	esc      *escapers
	standIns *standIns
	// slow says why no reader can be spliced (a template does more with
	// a reader's field than print or test it; see checkFields), or is
	// empty.
	slow string
	// zones caches time zones loaded for readers whose zone is no region's:
	// time.LoadLocation reads and parses the zone file on every call, and
	// a pass asks for every reader's zone.
	zones sync.Map // zone name → *time.Location
}

// New parses the three templates from fsys (templates.FS, or
// os.DirFS(templates_dir)), and those of the confirmation email (see
// parseConfirm), and renders them once against built-in sample data, so
// that a template naming a field that does not exist fails at start-up
// rather than in the middle of a send. Errors name the template file and
// line. Templates that do more with a reader's field than print or test
// it still load, but every reader is then rendered in full (Prepared.Reason
// says why).
func New(fsys fs.FS, opts Options) (*Renderer, error) {
	funcs := map[string]any{
		"wrap":      wrap,
		"hang":      hang,
		"indent":    indent,
		"underline": underline,
		"upper":     strings.ToUpper,
	}
	r := &Renderer{opts: opts, md: newMarkdown()}
	r.opts.PublisherName = oneLine(opts.PublisherName)
	for _, l := range strings.Split(opts.PostalAddress, "\n") {
		if l = oneLine(l); l != "" {
			r.postalLines = append(r.postalLines, l)
		}
	}
	var err error
	// Each template is named after its file, so parse and execution
	// errors read "template: digest.html.tmpl:12: …".
	if r.html, err = htmltemplate.New(htmlFile).Option("missingkey=error").Funcs(funcs).ParseFS(fsys, htmlFile); err != nil {
		return nil, fmt.Errorf("parse %s: %w", htmlFile, err)
	}
	if r.text, err = texttemplate.New(textFile).Option("missingkey=error").Funcs(funcs).ParseFS(fsys, textFile); err != nil {
		return nil, fmt.Errorf("parse %s: %w", textFile, err)
	}
	if r.subject, err = texttemplate.New(subjectFile).Option("missingkey=error").Funcs(funcs).ParseFS(fsys, subjectFile); err != nil {
		return nil, fmt.Errorf("parse %s: %w", subjectFile, err)
	}
	// Before the first execution, which makes html/template add its
	// escaping to the tree.
	for _, tree := range []*parse.Tree{r.subject.Tree, r.text.Tree, r.html.Tree} {
		if err := checkFields(tree); err != nil {
			r.slow = err.Error()
			break
		}
	}
	if r.esc, err = newEscapers(); err != nil {
		return nil, err
	}
	if r.standIns, err = newStandIns(r.esc, rand.Text()); err != nil {
		return nil, err
	}
	regions, samples := sampleInputs()
	for _, in := range samples {
		if _, err := r.render(in, regions); err != nil {
			return nil, fmt.Errorf("check templates against sample digest: %w", err)
		}
	}
	if err := r.parseConfirm(fsys, funcs); err != nil {
		return nil, err
	}
	return r, nil
}

// Input is one reader's digest.
type Input struct {
	Subscriber     digest.Subscriber
	Now            time.Time      // the pass time; the digest date is Now in the reader's zone
	Briefs         []digest.Brief // any order; see sections
	UnsubscribeURL string         // one-click unsubscribe page, http(s); required
	PreferencesURL string         // http(s); optional
}

// Output is a rendered digest.
type Output struct {
	Subject   string // one line, at most 120 runes
	Preheader string // the preview line, also hidden at the top of HTML
	HTML      string
	Text      string
}

// Render renders the digest of in with the configured regions: the digest
// prepared as for a group (Prepare) and applied to in's reader
// (Personalize), the way a pass makes every reader's copy, so that a
// preview is what a pass sends.
func (r *Renderer) Render(in Input) (Output, error) {
	p, err := r.prepare(in)
	var out Output
	if err == nil {
		out, err = p.Personalize(ReaderOf(in))
	}
	if err != nil {
		return Output{}, fmt.Errorf("render digest for %s: %w", in.Subscriber.Email, err)
	}
	return out, nil
}

// renderFull renders the digest of in by executing the templates with its
// reader's fields: what Personalize falls back to, and what splicing must
// equal.
func (r *Renderer) renderFull(in Input) (Output, error) {
	out, err := r.render(in, r.opts.Regions)
	if err != nil {
		return Output{}, fmt.Errorf("render digest for %s: %w", in.Subscriber.Email, err)
	}
	return out, nil
}

func (r *Renderer) render(in Input, regions digest.Regions) (Output, error) {
	v, err := r.view(in, regions)
	if err != nil {
		return Output{}, err
	}
	raw, err := r.execute(v)
	if err != nil {
		return Output{}, err
	}
	return Output{
		Subject:   truncate(raw.subject, subjectMax),
		Preheader: v.Preheader,
		HTML:      raw.html,
		Text:      raw.text,
	}, nil
}

// executed is the output of the three templates for one view, after the
// whitespace clean-up but before the subject is cut to length: what
// Prepare splits into shared text and reader fields.
type executed struct {
	subject string // one line, any length
	html    string
	text    string
}

// execute runs the three templates over v.
func (r *Renderer) execute(v *view) (executed, error) {
	var subject, text, html bytes.Buffer
	if err := r.subject.Execute(&subject, v); err != nil {
		return executed{}, err
	}
	if err := r.text.Execute(&text, v); err != nil {
		return executed{}, err
	}
	if err := r.html.Execute(&html, v); err != nil {
		return executed{}, err
	}
	return executed{
		subject: oneLine(subject.String()),
		html:    html.String(),
		text:    tidyText(text.String()),
	}, nil
}

// view builds the template data of in.
func (r *Renderer) view(in Input, regions digest.Regions) (*view, error) {
	sub := in.Subscriber
	if err := checkLinks(in.UnsubscribeURL, in.PreferencesURL); err != nil {
		return nil, err
	}
	if in.Now.IsZero() {
		return nil, digest.Invalid("", "now", "the pass time is not set")
	}
	loc, err := r.readerZone(sub, regions)
	if err != nil {
		return nil, err
	}
	now := in.Now.In(loc)
	v := &view{
		Publisher:        r.opts.PublisherName,
		PostalLines:      r.postalLines,
		Name:             oneLine(sub.Name),
		Email:            oneLine(sub.Email),
		Date:             now.Format(dateLayout),
		ShortDate:        now.Format("Monday, 2 January"),
		PreheaderPadding: preheaderPadding(),
		UnsubscribeURL:   in.UnsubscribeURL,
		PreferencesURL:   in.PreferencesURL,
	}
	var editions, shown []string
	for _, code := range sub.Regions {
		if region, ok := regions.Lookup(code); ok {
			editions = append(editions, oneLine(region.Name))
		}
	}
	v.Editions = englishList(editions)
	for _, sec := range sections(regions, sub.Regions, in.Briefs) {
		sv := sectionView{Code: sec.Region.Code, Name: oneLine(sec.Region.Name)}
		for _, b := range sec.Briefs {
			bv, err := r.brief(b, sec.Region.Location)
			if err != nil {
				return nil, fmt.Errorf("brief %s: %w", b.Slug, err)
			}
			sv.Briefs = append(sv.Briefs, bv)
		}
		v.BriefCount += len(sv.Briefs)
		v.Sections = append(v.Sections, sv)
		shown = append(shown, sv.Name)
	}
	v.SubjectRegions = regionSummary(shown, subjectRegions)
	v.Preheader = preheaderFor(v.Sections)
	return v, nil
}

// checkLinks validates a reader's unsubscribe link (required) and
// preferences link (optional).
func checkLinks(unsubscribeURL, preferencesURL string) error {
	if !webURL(unsubscribeURL) {
		return digest.Invalid("", "unsubscribe URL", "%q is not an http(s) URL", unsubscribeURL)
	}
	if preferencesURL != "" && !webURL(preferencesURL) {
		return digest.Invalid("", "preferences URL", "%q is not an http(s) URL", preferencesURL)
	}
	return nil
}

// readerZone is the reader's time zone: their own, else their first
// region's, else UTC.
func (r *Renderer) readerZone(sub digest.Subscriber, regions digest.Regions) (*time.Location, error) {
	if sub.TimeZone != "" {
		for _, region := range regions {
			if region.TimeZone == sub.TimeZone && region.Location != nil {
				return region.Location, nil
			}
		}
		if loc, ok := r.zones.Load(sub.TimeZone); ok {
			return loc.(*time.Location), nil
		}
		loc, err := time.LoadLocation(sub.TimeZone)
		if err != nil {
			return nil, digest.Invalid(sub.Email, "time_zone", "unknown time zone %q", sub.TimeZone)
		}
		r.zones.Store(sub.TimeZone, loc)
		return loc, nil
	}
	for _, code := range sub.Regions {
		if region, ok := regions.Lookup(code); ok && region.Location != nil {
			return region.Location, nil
		}
	}
	return time.UTC, nil
}

// brief builds the view of one brief, rendering its Markdown once for both
// parts; markdown caches the result by content for the next reader.
func (r *Renderer) brief(b digest.Brief, loc *time.Location) (briefView, error) {
	v := briefView{
		ID:       b.ID,
		Slug:     b.Slug,
		Headline: oneLine(b.Headline),
		Dateline: dateline(b.PublishedAt, loc),
		Author:   oneLine(b.Author),
		Lede:     oneLine(b.Lede),
		Image:    imageFor(b.Image),
	}
	var err error
	if v.BodyHTML, v.BodyText, err = r.markdown(b.Body, textWidth); err != nil {
		return briefView{}, fmt.Errorf("body: %w", err)
	}
	for i, s := range b.Signals {
		sv := signalView{Title: oneLine(s.Title)}
		if sv.BodyHTML, sv.BodyText, err = r.markdown(s.Body, signalTextWidth); err != nil {
			return briefView{}, fmt.Errorf("signal %d: %w", i+1, err)
		}
		sv.Sources, sv.SourceList = sourcesFor(s.Sources)
		v.Signals = append(v.Signals, sv)
	}
	return v, nil
}

// markdown renders src as HTML and as plain text wrapped at width.
func (r *Renderer) markdown(src string, width int) (htmltemplate.HTML, string, error) {
	if strings.TrimSpace(src) == "" {
		return "", "", nil
	}
	if v, ok := r.mdCache.get(src, width); ok {
		return v.html, v.text, nil
	}
	source := []byte(src)
	doc := r.md.parse(source)
	h, err := r.md.html(doc, source)
	if err != nil {
		return "", "", err
	}
	t := r.md.text(doc, source, width)
	r.mdCache.put(src, width, mdOut{html: h, text: t})
	return h, t, nil
}
