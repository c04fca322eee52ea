package render

import (
	"html/template"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
)

// view is what the three templates see. Its field names are the templates'
// interface: operators with their own templates_dir depend on them, so add
// fields rather than rename them. Every string is one line unless its
// comment says otherwise; html/template escapes them in the HTML part, and
// the *HTML fields are already sanitized.
type view struct {
	Publisher      string   // Options.PublisherName; may be empty
	PostalLines    []string // Options.PostalAddress, one entry per line
	Name           string   // the reader's name; may be empty
	Email          string   // the reader's address
	Date           string   // "Thursday, 26 November 2026", in the reader's zone
	ShortDate      string   // "Thursday, 26 November"
	SubjectRegions string   // regions in this digest: "Lagos, Brussels +2 more"
	Editions       string   // every region the reader subscribed to: "Lagos and Brussels"
	Preheader      string   // the preview line of inboxes
	// PreheaderPadding follows the preheader in a hidden element so that
	// clients fill their preview with blanks rather than body text.
	PreheaderPadding template.HTML
	Sections         []sectionView // non-empty regions, in the reader's order
	BriefCount       int
	UnsubscribeURL   string // http(s), always set
	PreferencesURL   string // http(s); may be empty
}

// sectionView is one region of the digest.
type sectionView struct {
	Code   string
	Name   string
	Briefs []briefView
}

// briefView is one brief as shown.
type briefView struct {
	ID       int64
	Slug     string
	Headline string
	Dateline string // publication time in the region's zone: "25 November 2026, 14:34 WAT"
	Author   string // may be empty
	Lede     string // may be empty
	Image    *imageView
	BodyHTML template.HTML
	BodyText string // plain text, several lines, wrapped at textWidth
	Signals  []signalView
}

// imageView is a brief's picture, present only with an http(s) source.
type imageView struct {
	URL     string
	Alt     string // never empty when there is a caption
	Caption string // caption and credit, may be empty
	Width   int    // the width attribute, in CSS pixels: the column's inner width
}

// signalView is one signal of a brief.
type signalView struct {
	Title      string
	BodyHTML   template.HTML
	BodyText   string // plain text, several lines, wrapped at signalTextWidth
	Sources    []sourceView
	SourceList string // for the text part: "Reuters (https://…), AFP"
}

// sourceView is one source; URL is empty unless it is http(s).
type sourceView struct {
	Name string
	URL  string
}

// Layout constants shared by the view and the templates.
const (
	imageWidth      = 552 // 600px column minus 24px padding either side
	textWidth       = 72  // plain-text body column
	signalTextWidth = 68  // signal bodies are indented 4 in the text part
	subjectMax      = 120 // runes; long subjects are cut by clients anyway
	subjectRegions  = 60  // runes of region names in the subject
	preheaderMax    = 140 // runes; about what inboxes show
)

// preheaderPadding returns the usual run of combining grapheme joiners,
// zero-width non-joiners and no-break spaces that follows the preheader.
//
// It comes in four lines rather than one of 1,440 characters: a part with a
// line over 998 octets cannot be sent 8bit (RFC 5322 2.1.1) and would cost
// quoted-printable encoding. In the hidden element a line break is one
// more blank.
func preheaderPadding() template.HTML {
	line := strings.Repeat("&#847;&zwnj;&nbsp;", 20)
	return template.HTML(strings.Repeat(line+"\n", 3) + line)
}

// imageFor returns the view of img, or nil when there is nothing safe to show.
func imageFor(img *digest.Image) *imageView {
	if img == nil || !webURL(img.URL) {
		return nil
	}
	caption := oneLine(img.Caption)
	if credit := oneLine(img.Credit); credit != "" {
		caption = strings.TrimSpace(caption + " Photo: " + credit)
	}
	alt := oneLine(img.Alt)
	if alt == "" {
		alt = oneLine(img.Caption)
	}
	return &imageView{URL: img.URL, Alt: alt, Caption: caption, Width: imageWidth}
}

// sourcesFor returns the views of sources and their plain-text list.
func sourcesFor(sources []digest.Source) ([]sourceView, string) {
	views := make([]sourceView, 0, len(sources))
	parts := make([]string, 0, len(sources))
	for _, s := range sources {
		v := sourceView{Name: oneLine(s.Name)}
		if webURL(s.URL) {
			v.URL = s.URL
		}
		if v.Name == "" {
			if v.URL == "" {
				continue
			}
			v.Name = v.URL
		}
		views = append(views, v)
		if v.URL != "" && v.URL != v.Name {
			parts = append(parts, v.Name+" ("+v.URL+")")
		} else {
			parts = append(parts, v.Name)
		}
	}
	return views, strings.Join(parts, ", ")
}

// dateline formats t in loc (UTC when nil) as "25 November 2026, 14:34 WAT".
func dateline(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2 January 2006, 15:04 MST")
}

// preheaderFor joins the first headlines in display order within
// preheaderMax runes.
func preheaderFor(sections []sectionView) string {
	var s string
	for _, sec := range sections {
		for _, b := range sec.Briefs {
			if s == "" {
				s = truncate(b.Headline, preheaderMax)
				continue
			}
			next := s + " · " + b.Headline
			if len([]rune(next)) > preheaderMax {
				return s
			}
			s = next
		}
	}
	return s
}
