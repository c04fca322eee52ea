package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/subscribers"
)

// prefsForm is the preferences form as shown: the stored settings, or what
// the reader just sent with what is wrong with it.
type prefsForm struct {
	FormToken string
	Regions   []regionChoice // every configured region, the chosen ones first in the reader's order
	MaxOrder  int
	SendTime  string
	TimeZone  string
	Zones     []string // suggestions for the time zone field
	// Errors holds what is wrong, by form field: "regions", "send_time",
	// "time_zone".
	Errors map[string]string
	Saved  bool
}

// regionChoice is one row of the editions list.
type regionChoice struct {
	Code, Name string
	Checked    bool
	Order      string // the number in the order box, as shown
}

// Form field names.
const (
	fieldRegion    = "region"
	fieldOrder     = "order-" // + region code
	fieldSendTime  = "send_time"
	fieldTimeZone  = "time_zone"
	fieldFormToken = "form_token"
)

// preferencesPage shows the reader's settings in a form that posts back to
// the same URL. It changes nothing.
func (s *Server) preferencesPage(w http.ResponseWriter, r *http.Request) {
	sub, ok := s.subscriberFor(w, r, purposePreferences)
	if !ok {
		return
	}
	data := s.preferencesData(r, sub)
	if data.Form != nil {
		data.Form.Regions = s.storedChoices(sub.Regions)
	}
	s.render(w, http.StatusOK, "preferences", data)
}

// preferencesData is the page for sub, with a form holding its stored
// settings when it may change them.
func (s *Server) preferencesData(r *http.Request, sub digest.Subscriber) pageData {
	data := pageData{
		Title:        "Your digest",
		Email:        maskEmail(sub.Email),
		Token:        r.PathValue("token"),
		Unsubscribed: sub.Status == digest.StatusUnsubscribed,
		Editions:     s.editionNames(sub.Regions),
		SendTime:     sub.SendTime.String(),
		TimeZone:     sub.TimeZone,
		NextDigest:   s.nextDigest(sub),
	}
	if !editable(sub.Status) {
		// Not subscribed (any more): settings would change nothing, and
		// saving them must not look like subscribing again.
		data.Unsubscribed = true
		return data
	}
	data.Form = &prefsForm{
		FormToken: s.formToken(sub.ID),
		MaxOrder:  len(s.opts.Regions),
		SendTime:  sub.SendTime.String(),
		TimeZone:  sub.TimeZone,
		Zones:     s.zoneSuggestions(sub.TimeZone),
		Errors:    map[string]string{},
	}
	return data
}

// nextDigest says when sub's next digest falls due, as a pass decides it
// (digest.SendDay.Next), in their zone: "" for a reader who gets none.
func (s *Server) nextDigest(sub digest.Subscriber) string {
	if sub.Status != digest.StatusActive {
		return ""
	}
	loc, err := time.LoadLocation(sub.TimeZone)
	if err != nil {
		return ""
	}
	return sub.SendTime.DayAt(s.opts.Now(), loc).Next().Format("Monday 2 January at 15:04")
}

// editable reports whether a reader in status may change settings: those
// who get digests, or will once they confirm.
func editable(status digest.SubscriberStatus) bool {
	return status == digest.StatusActive || status == digest.StatusPending
}

// savePreferences checks and saves the form. Invalid answers are shown
// next to their fields and change nothing; a request that did not come
// from our form (cross-site, no or stale form token) is refused.
func (s *Server) savePreferences(w http.ResponseWriter, r *http.Request) {
	if reason := s.crossSite(r); reason != "" {
		s.refuseCrossSite(w, r, reason)
		return
	}
	if status, err := readForm(w, r, maxFormBytes); err != nil {
		s.renderMessage(w, status, "Request not understood", "Use the form on your preferences page.")
		return
	}
	sub, ok := s.subscriberFor(w, r, purposePreferences)
	if !ok {
		return
	}
	if err := s.checkFormToken(sub.ID, r.PostForm.Get(fieldFormToken)); err != nil {
		s.logger.Info("preferences form refused", "subscriber", sub.ID, "reason", err)
		s.render(w, http.StatusForbidden, "message", pageData{
			Title:    "This form has expired",
			Text:     "Nothing was changed. Open your preferences page again and make your changes there.",
			Link:     r.PathValue("token"), // this page, fresh
			LinkText: "Open your preferences page",
		})
		return
	}
	if !editable(sub.Status) {
		s.render(w, http.StatusConflict, "preferences", s.preferencesData(r, sub))
		return
	}

	data := s.preferencesData(r, sub)
	form := data.Form
	choices, codes, orderProblem := s.postedChoices(r)
	form.Regions = choices
	form.SendTime = strings.TrimSpace(r.PostForm.Get(fieldSendTime))
	form.TimeZone = strings.TrimSpace(r.PostForm.Get(fieldTimeZone))
	updated, err := subscribers.New(subscribers.Input{
		Email:    sub.Email,
		Name:     sub.Name,
		Regions:  codes,
		TimeZone: form.TimeZone,
		SendTime: timeOfDay(form.SendTime),
		Status:   sub.Status,
	}, subscribers.Defaults{SendTime: sub.SendTime, Regions: s.opts.Regions})
	formErrors(form.Errors, err)
	switch {
	case len(codes) == 0:
		form.Errors["regions"] = "Choose at least one edition."
	case orderProblem != "":
		form.Errors["regions"] = strings.TrimSpace(orderProblem + " " + form.Errors["regions"])
	}
	if len(form.Errors) > 0 {
		s.render(w, http.StatusUnprocessableEntity, "preferences", data)
		return
	}

	updated.ID = sub.ID
	updated.Name = sub.Name           // not on this form
	updated.UpdatedAt = sub.UpdatedAt // refuse to overwrite a change made meanwhile (an unsubscribe)
	err = s.store.UpdateSubscriber(r.Context(), &updated)
	switch {
	case errors.Is(err, digest.ErrConflict):
		s.render(w, http.StatusConflict, "message", pageData{
			Title:    "Your settings changed meanwhile",
			Text:     "Nothing was saved, so as not to undo that change. Open your preferences page again to see them.",
			Link:     r.PathValue("token"),
			LinkText: "Open your preferences page",
		})
		return
	case errors.Is(err, digest.ErrNotFound):
		s.invalidLink(w, http.StatusNotFound)
		return
	case err != nil:
		s.logger.Error("save preferences failed", "subscriber", sub.ID, "err", err)
		s.serverError(w)
		return
	}
	s.logger.Info("preferences saved", "subscriber", sub.ID)
	data = s.preferencesData(r, updated)
	data.Form.Regions = s.storedChoices(updated.Regions)
	data.Form.Saved = true
	s.render(w, http.StatusOK, "preferences", data)
}

// storedChoices lists every configured region for the form: the reader's
// own first, ticked and numbered in their order, then the others in the
// configured order, numbered after them so that ticking one adds it at
// the end. A stored region no longer configured is left out (saving drops
// it).
func (s *Server) storedChoices(chosen []string) []regionChoice {
	var out []regionChoice
	seen := map[string]bool{}
	for _, code := range chosen {
		if region, ok := s.opts.Regions.Lookup(code); ok && !seen[code] {
			seen[code] = true
			out = append(out, regionChoice{Code: code, Name: region.Name, Checked: true})
		}
	}
	for _, region := range s.opts.Regions {
		if !seen[region.Code] {
			out = append(out, regionChoice{Code: region.Code, Name: region.Name})
		}
	}
	for i := range out {
		out[i].Order = strconv.Itoa(i + 1)
	}
	return out
}

// postedChoices reads the editions part of the form: the ticked region
// codes sorted by their order boxes (ties and empty boxes keep the order
// they were ticked in), the rows to show again, and what is wrong with
// the order numbers. Codes that are not configured are passed on, for
// subscribers.New to name.
func (s *Server) postedChoices(r *http.Request) ([]regionChoice, []string, string) {
	ticked := r.PostForm[fieldRegion]
	isTicked := map[string]bool{}
	for _, code := range ticked {
		isTicked[strings.TrimSpace(code)] = true
	}
	type ranked struct {
		code  string
		order int
		index int
	}
	var (
		rows     []regionChoice
		rank     []ranked
		problems []string
	)
	for _, region := range s.opts.Regions {
		rows = append(rows, regionChoice{Code: region.Code, Name: region.Name, Checked: isTicked[region.Code],
			Order: strings.TrimSpace(r.PostForm.Get(fieldOrder + region.Code))})
	}
	for i, code := range ticked {
		code = strings.TrimSpace(code)
		raw := strings.TrimSpace(r.PostForm.Get(fieldOrder + code))
		order := len(s.opts.Regions) + 1 + i // no number: after the numbered ones
		if raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil || n < 1 || n > 999 {
				problems = append(problems, fmt.Sprintf("The order of %s must be a number from 1 to %d.", s.regionName(code), max(len(s.opts.Regions), 1)))
			} else {
				order = n
			}
		}
		rank = append(rank, ranked{code, order, i})
	}
	slices.SortStableFunc(rank, func(a, b ranked) int { return a.order - b.order })
	codes := make([]string, len(rank))
	for i, rk := range rank {
		codes[i] = rk.code
	}
	// Show the rows again as the reader will get them: ticked ones in
	// their new order, first.
	slices.SortStableFunc(rows, func(a, b regionChoice) int {
		ia, ib := slices.Index(codes, a.Code), slices.Index(codes, b.Code)
		switch {
		case ia >= 0 && ib >= 0:
			return ia - ib
		case ia >= 0:
			return -1
		case ib >= 0:
			return 1
		}
		return 0
	})
	return rows, codes, strings.Join(problems, " ")
}

// regionName is a region's display name, or its code quoted.
func (s *Server) regionName(code string) string {
	if region, ok := s.opts.Regions.Lookup(code); ok && region.Name != "" {
		return region.Name
	}
	return strconv.Quote(code)
}

// timeOfDay accepts what a time input sends: "HH:MM", or "HH:MM:00" from
// browsers that add seconds.
func timeOfDay(v string) string {
	if len(v) == 8 && strings.HasSuffix(v, ":00") {
		return v[:5]
	}
	return v
}

// formErrors files the problems subscribers.New found under the form
// fields they concern, as the reason alone: the page names the field, and
// must not echo the full address.
func formErrors(into map[string]string, err error) {
	if err == nil {
		return
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	fields := map[string]string{"regions": "regions", "send-time": fieldSendTime, "timezone": fieldTimeZone}
	for _, e := range errs {
		field, reason := "form", e.Error()
		var fe *digest.FieldError
		if errors.As(e, &fe) {
			reason = fe.Reason
			if f, ok := fields[fe.Field]; ok {
				field = f
			}
		}
		into[field] = strings.TrimSpace(into[field] + " " + sentence(reason))
	}
}

// sentence makes a reason a sentence: capitalised, with a full stop.
func sentence(reason string) string {
	r, size := utf8.DecodeRuneInString(reason)
	if size == 0 {
		return ""
	}
	return string(unicode.ToUpper(r)) + reason[size:] + "."
}

// zoneSuggestions offers the configured regions' zones and the reader's
// own, sorted.
func (s *Server) zoneSuggestions(current string) []string {
	var zones []string
	if current != "" {
		zones = append(zones, current)
	}
	for _, region := range s.opts.Regions {
		zones = append(zones, region.TimeZone)
	}
	slices.Sort(zones)
	return slices.Compact(zones)
}
