package preview

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/sqlite"
)

// localLayout is what an <input type="datetime-local"> sends.
const localLayout = "2006-01-02T15:04"

// parseRequest reads ?email=… or ?regions=a,b[&tz=Zone], and ?at= (RFC 3339,
// or a datetime-local value read in the reader's zone; empty: now). A
// problem with the request itself is returned as a *digest.FieldError
// naming the parameter.
func (s *Server) parseRequest(r *http.Request) (digest.Subscriber, time.Time, error) {
	q := r.URL.Query()
	email, regions := strings.TrimSpace(q.Get("email")), strings.TrimSpace(q.Get("regions"))
	var sub digest.Subscriber
	switch {
	case email != "" && regions != "":
		return sub, time.Time{}, digest.Invalid("preview", "email", "give a reader's email or a region mix, not both")
	case email != "":
		var err error
		if sub, err = s.subs.SubscriberByEmail(r.Context(), email); err != nil {
			return sub, time.Time{}, fmt.Errorf("find reader %s: %w", email, err)
		}
	case regions != "":
		var err error
		if sub, err = s.madeUpReader(strings.Split(regions, ","), strings.TrimSpace(q.Get("tz"))); err != nil {
			return sub, time.Time{}, err
		}
	default:
		return sub, time.Time{}, digest.Invalid("preview", "email", "pick a reader or at least one region")
	}
	at, err := parseAt(strings.TrimSpace(q.Get("at")), sub.TimeZone, s.opts.Now)
	return sub, at, err
}

// madeUpReader is the reader of a region mix: never stored (ID 0), so
// every brief of the look-back window counts as new, with the configured
// send time and the given zone or the first region's.
func (s *Server) madeUpReader(codes []string, zone string) (digest.Subscriber, error) {
	sub := digest.Subscriber{Email: MadeUpEmail, Name: "Preview reader", SendTime: s.opts.SendTime, Status: digest.StatusActive}
	for _, c := range codes {
		c = strings.TrimSpace(c)
		if c == "" || slices.Contains(sub.Regions, c) {
			continue
		}
		if _, ok := s.opts.Regions.Lookup(c); !ok {
			return sub, digest.Invalid("preview", "regions", "unknown region %q (configured: %s)", c, strings.Join(s.opts.Regions.Codes(), ", "))
		}
		sub.Regions = append(sub.Regions, c)
	}
	if len(sub.Regions) == 0 {
		return sub, digest.Invalid("preview", "regions", "pick at least one region")
	}
	if zone == "" {
		first, _ := s.opts.Regions.Lookup(sub.Regions[0])
		zone = first.TimeZone
	}
	if _, err := time.LoadLocation(zone); err != nil || zone == "Local" {
		return sub, digest.Invalid("preview", "tz", "unknown time zone %q: give an IANA name like Europe/Brussels", zone)
	}
	sub.TimeZone = zone
	return sub, nil
}

// parseAt reads the instant of a preview.
func parseAt(v, zone string, now func() time.Time) (time.Time, error) {
	if v == "" {
		return now(), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return time.Time{}, fmt.Errorf("load time zone %q: %w", zone, err)
	}
	if t, err := time.ParseInLocation(localLayout, v, loc); err == nil {
		return t, nil
	}
	return time.Time{}, digest.Invalid("preview", "at", "%q is not a time: use 2026-11-26T06:00 (the reader's local time) or RFC 3339", v)
}

// errorStatus is the HTTP status of a failed preview request.
func errorStatus(err error) int {
	var fe *digest.FieldError
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest
	case errors.Is(err, digest.ErrNotFound):
		return http.StatusNotFound
	default:
		return http.StatusInternalServerError
	}
}

// fail answers a failed request in JSON; internal errors are logged and not
// shown in detail.
func (s *Server) fail(w http.ResponseWriter, err error) {
	status := errorStatus(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		s.logger.Error("preview failed", "err", err)
		msg = "internal error: see the server log"
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

// apiResponse is the JSON of GET /api/preview, as static/app.js reads it.
type apiResponse struct {
	Reader      apiReader  `json:"reader"`
	At          time.Time  `json:"at"`
	Date        string     `json:"date"`   // the reader's local day
	DueAt       time.Time  `json:"due_at"` // the reader's send time that day
	Due         bool       `json:"due"`
	After       time.Time  `json:"after"` // the start of the brief window
	Empty       bool       `json:"empty"` // no briefs: a real pass sends nothing
	Subject     string     `json:"subject"`
	Preheader   string     `json:"preheader"`
	Text        string     `json:"text"`
	HTMLBytes   int        `json:"html_bytes"`
	HTMLLimit   int        `json:"html_limit"`
	OverLimit   bool       `json:"over_limit"`
	Findings    []Finding  `json:"findings"`
	Briefs      []apiBrief `json:"briefs"`
	RenderURL   string     `json:"render_url"` // the HTML email, for the frame
	ReloadErr   string     `json:"reload_error,omitempty"`
	Generated   time.Time  `json:"generated"`
	Cutoff      time.Time  `json:"cutoff,omitzero"` // the watermark: the cut-off of the reader's last digest
	FirstDigest bool       `json:"first_digest"`    // no digest yet: the first-digest look-back applies
}

// apiReader is the reader of a preview, and one reader found by GET
// /api/subscribers.
type apiReader struct {
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Regions  []string `json:"regions"`
	TimeZone string   `json:"time_zone"`
	SendTime string   `json:"send_time"`
	Status   string   `json:"status"`
	MadeUp   bool     `json:"made_up"` // a region mix, not a stored reader
}

// apiBrief is one brief of a preview and why it is in.
type apiBrief struct {
	Slug        string    `json:"slug"`
	Headline    string    `json:"headline"`
	Region      string    `json:"region"`
	RegionName  string    `json:"region_name"`
	PublishedAt time.Time `json:"published_at"`
	Why         string    `json:"why"`
}

func (s *Server) apiPreview(w http.ResponseWriter, r *http.Request) {
	sub, at, err := s.parseRequest(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	pv, err := s.previewer.Preview(r.Context(), sub, at)
	if err != nil {
		s.fail(w, fmt.Errorf("preview for %s at %s: %w", sub.Email, at.Format(time.RFC3339), err))
		return
	}
	writeJSON(w, http.StatusOK, s.response(pv, r.URL.Query()))
}

// response is the JSON view of a preview.
func (s *Server) response(pv delivery.Preview, q url.Values) apiResponse {
	sub := pv.Subscriber
	resp := apiResponse{
		Reader: apiReader{Email: sub.Email, Name: sub.Name, Regions: sub.Regions, TimeZone: sub.TimeZone,
			SendTime: sub.SendTime.String(), Status: string(sub.Status), MadeUp: sub.ID == 0},
		At: pv.At, Date: string(pv.Date), DueAt: pv.DueAt, Due: pv.Due, After: pv.After,
		Empty: len(pv.Briefs) == 0, Subject: pv.Output.Subject, Preheader: pv.Output.Preheader,
		Text: pv.Output.Text, HTMLBytes: len(pv.Output.HTML), HTMLLimit: HTMLLimit,
		Findings: []Finding{}, Briefs: []apiBrief{}, ReloadErr: s.reloadError(), Generated: s.opts.Now().UTC(),
		Cutoff: sub.Watermark, FirstDigest: sub.Watermark.IsZero(),
	}
	resp.OverLimit = resp.HTMLBytes > HTMLLimit
	if !resp.Empty {
		resp.Findings = append(resp.Findings, s.lint(pv)...)
	}
	for _, b := range pv.Briefs {
		rb := apiBrief{Slug: b.Slug, Headline: b.Headline, Region: b.Region, RegionName: b.Region,
			PublishedAt: b.PublishedAt.UTC(), Why: why(b, sub, pv.After)}
		if rg, ok := s.opts.Regions.Lookup(b.Region); ok {
			rb.RegionName = rg.Name
		}
		resp.Briefs = append(resp.Briefs, rb)
	}
	rq := url.Values{}
	for _, k := range []string{"email", "regions", "tz"} {
		if v := q.Get(k); v != "" {
			rq.Set(k, v)
		}
	}
	rq.Set("at", pv.At.UTC().Format(time.RFC3339))
	resp.RenderURL = "/render?" + rq.Encode()
	return resp
}

// why says why a brief is in a reader's digest, in the terms of the
// README's "How delivery decides who gets what".
func why(b digest.Brief, sub digest.Subscriber, after time.Time) string {
	region := "one of the reader's editions (" + b.Region + ")"
	switch {
	case sub.Watermark.IsZero():
		return fmt.Sprintf("%s; in the first-digest look-back (since %s)", region, after.UTC().Format(time.RFC3339))
	case b.PublishedAt.After(sub.Watermark):
		return fmt.Sprintf("%s; published after the reader's last digest (cut-off %s)", region, sub.Watermark.UTC().Format(time.RFC3339))
	default:
		return fmt.Sprintf("%s; published before the reader's last digest (cut-off %s) but stored after it went out, within the late-brief grace (since %s)",
			region, sub.Watermark.UTC().Format(time.RFC3339), after.UTC().Format(time.RFC3339))
	}
}

// renderCSP lets the email in the frame show its inline styles and its
// images and nothing else: no script runs, and the sandbox keeps it from
// reaching the page around it.
const renderCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"

// renderEmail answers the HTML email itself, for the page's frame.
func (s *Server) renderEmail(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", renderCSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Type", "text/html; charset=utf-8")
	sub, at, err := s.parseRequest(r)
	if err == nil {
		var pv delivery.Preview
		if pv, err = s.previewer.Preview(r.Context(), sub, at); err == nil {
			if len(pv.Briefs) == 0 {
				_, _ = fmt.Fprint(w, nothingNew)
				return
			}
			_, _ = w.Write([]byte(pv.Output.HTML))
			return
		}
		err = fmt.Errorf("preview for %s at %s: %w", sub.Email, at.Format(time.RFC3339), err)
	}
	status := errorStatus(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		s.logger.Error("render preview failed", "err", err)
		msg = "internal error: see the server log"
	}
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<!doctype html><title>No preview</title><p>%s</p>", html.EscapeString(msg))
}

// nothingNew stands in the frame when the reader would get no email.
const nothingNew = `<!doctype html><meta charset="utf-8"><title>No email</title>` +
	`<p style="font:16px sans-serif;color:#555;padding:2em">Nothing new for this reader at this time: a real pass sends no email.</p>`

// apiSubscribers answers GET /api/subscribers?q=…: up to 20 readers whose
// email or name contains q.
func (s *Server) apiSubscribers(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	subs, err := s.subs.ListSubscribers(r.Context(), sqlite.SubscriberFilter{Search: q, Limit: 20})
	if err != nil {
		s.fail(w, fmt.Errorf("search readers for %q: %w", q, err))
		return
	}
	out := make([]apiReader, 0, len(subs))
	for _, sub := range subs {
		out = append(out, apiReader{Email: sub.Email, Name: sub.Name, Regions: sub.Regions, TimeZone: sub.TimeZone,
			SendTime: sub.SendTime.String(), Status: string(sub.Status)})
	}
	writeJSON(w, http.StatusOK, out)
}
