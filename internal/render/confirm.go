package render

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	texttemplate "text/template"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/templates"
)

// Template files of the double opt-in confirmation email.
const (
	confirmHTMLFile    = "confirm.html.tmpl"
	confirmTextFile    = "confirm.txt.tmpl"
	confirmSubjectFile = "confirm_subject.txt.tmpl"
)

// confirmTemplates are the parsed templates of the confirmation email.
type confirmTemplates struct {
	html    *htmltemplate.Template
	text    *texttemplate.Template
	subject *texttemplate.Template
}

// ConfirmInput is one confirmation email: the reader who signed up and the
// link that confirms it.
type ConfirmInput struct {
	Subscriber digest.Subscriber
	// ConfirmURL is the double opt-in link (links.Builder.Confirm); http(s),
	// required.
	ConfirmURL string
	// ValidFor is how long the reader has to confirm (optin.expire_after);
	// zero says nothing about it.
	ValidFor time.Duration
}

// ConfirmOutput is a rendered confirmation email.
type ConfirmOutput struct {
	Subject string // one line, at most 120 runes
	HTML    string
	Text    string
}

// confirmView is what the confirmation templates see. Like view, its field
// names are the interface of operators' own templates: add, don't rename.
type confirmView struct {
	Publisher   string   // Options.PublisherName; may be empty
	PostalLines []string // Options.PostalAddress, one entry per line
	Name        string   // the reader's name; may be empty
	Email       string   // the reader's address
	Editions    string   // the regions they chose: "Lagos and Brussels"; may be empty
	ConfirmURL  string   // http(s), always set
	ValidFor    string   // "7 days", "36 hours"; empty when not known
}

// parseConfirm parses the confirmation templates from fsys and renders them
// once against sample data, as New does for the digest. A templates_dir
// written before the confirmation email existed holds none of its files:
// then the embedded ones are used, so that upgrading does not stop a
// working installation. A directory with some of them but not all is a
// mistake and reported.
func (r *Renderer) parseConfirm(fsys fs.FS, funcs map[string]any) error {
	missing := 0
	for _, name := range []string{confirmHTMLFile, confirmTextFile, confirmSubjectFile} {
		if _, err := fs.Stat(fsys, name); errors.Is(err, fs.ErrNotExist) {
			missing++
		}
	}
	if missing == 3 {
		fsys = templates.FS
	}
	t := &confirmTemplates{}
	var err error
	if t.html, err = htmltemplate.New(confirmHTMLFile).Option("missingkey=error").Funcs(funcs).ParseFS(fsys, confirmHTMLFile); err != nil {
		return fmt.Errorf("parse %s: %w", confirmHTMLFile, err)
	}
	if t.text, err = texttemplate.New(confirmTextFile).Option("missingkey=error").Funcs(funcs).ParseFS(fsys, confirmTextFile); err != nil {
		return fmt.Errorf("parse %s: %w", confirmTextFile, err)
	}
	if t.subject, err = texttemplate.New(confirmSubjectFile).Option("missingkey=error").Funcs(funcs).ParseFS(fsys, confirmSubjectFile); err != nil {
		return fmt.Errorf("parse %s: %w", confirmSubjectFile, err)
	}
	r.confirm = t
	regions, _ := sampleInputs()
	for _, in := range sampleConfirmInputs() {
		if _, err := r.renderConfirm(in, regions); err != nil {
			return fmt.Errorf("check templates against sample confirmation: %w", err)
		}
	}
	return nil
}

// sampleConfirmInputs returns confirmation emails with every optional
// field set and with none, so that each {{with}} body runs at start-up.
func sampleConfirmInputs() []ConfirmInput {
	return []ConfirmInput{{
		Subscriber: digest.Subscriber{ID: 1, Email: "reader@example.com", Name: "Sample Reader",
			Regions: []string{"north", "south"}, Status: digest.StatusPending},
		ConfirmURL: "https://example.com/confirm/x",
		ValidFor:   7 * 24 * time.Hour,
	}, {
		Subscriber: digest.Subscriber{ID: 2, Email: "bare@example.com", Status: digest.StatusPending},
		ConfirmURL: "https://example.com/confirm/y",
	}}
}

// Confirm renders the double opt-in confirmation email of in.
func (r *Renderer) Confirm(in ConfirmInput) (ConfirmOutput, error) {
	out, err := r.renderConfirm(in, r.opts.Regions)
	if err != nil {
		return ConfirmOutput{}, fmt.Errorf("render confirmation for %s: %w", in.Subscriber.Email, err)
	}
	return out, nil
}

func (r *Renderer) renderConfirm(in ConfirmInput, regions digest.Regions) (ConfirmOutput, error) {
	if !webURL(in.ConfirmURL) {
		return ConfirmOutput{}, digest.Invalid("", "confirm URL", "%q is not an http(s) URL", in.ConfirmURL)
	}
	v := confirmView{
		Publisher:   r.opts.PublisherName,
		PostalLines: r.postalLines,
		Name:        oneLine(in.Subscriber.Name),
		Email:       oneLine(in.Subscriber.Email),
		ConfirmURL:  in.ConfirmURL,
		ValidFor:    spokenDuration(in.ValidFor),
	}
	var editions []string
	for _, code := range in.Subscriber.Regions {
		if region, ok := regions.Lookup(code); ok {
			editions = append(editions, oneLine(region.Name))
		}
	}
	v.Editions = englishList(editions)
	var subject, text, html bytes.Buffer
	if err := r.confirm.subject.Execute(&subject, v); err != nil {
		return ConfirmOutput{}, err
	}
	if err := r.confirm.text.Execute(&text, v); err != nil {
		return ConfirmOutput{}, err
	}
	if err := r.confirm.html.Execute(&html, v); err != nil {
		return ConfirmOutput{}, err
	}
	return ConfirmOutput{
		Subject: truncate(oneLine(subject.String()), subjectMax),
		HTML:    html.String(),
		Text:    tidyText(text.String()),
	}, nil
}

// spokenDuration says d as a reader would: "7 days", "1 day", "36 hours",
// "90 minutes"; "" for zero or less.
func spokenDuration(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d <= 0:
		return ""
	case d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	}
	return unit(max(1, int64(d.Round(time.Minute)/time.Minute)), "minute")
}
