package server

import (
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

// TestPreferencesChange changes editions and their order, send time and
// zone through the form, as a reader's browser would post it.
func TestPreferencesChange(t *testing.T) {
	f := newDBFixture(t, Options{})
	sub := f.add(t, "ada@example.com", digest.StatusActive)
	path := "/preferences/" + f.signer.Sign("preferences", sub.ID)

	page := f.do(t, http.MethodGet, path, nil, nil)
	if page.status != http.StatusOK {
		t.Fatalf("GET: %d", page.status)
	}
	form := formValues(t, page.body)
	if got := form["region"]; !slices.Equal(got, []string{"lagos", "bxl"}) {
		t.Fatalf("ticked regions on the page %v, want lagos, bxl", got)
	}
	if form.Get("order-lagos") != "1" || form.Get("order-bxl") != "2" || form.Get("order-sg") != "3" ||
		form.Get("send_time") != "06:30" || form.Get("time_zone") != "Africa/Lagos" {
		t.Fatalf("form as served: %v", form)
	}
	if f.load(t, sub.ID).UpdatedAt != sub.UpdatedAt {
		t.Fatal("viewing the page changed the record")
	}

	// Singapore first, then Lagos; Brussels dropped; 07:15 in Singapore.
	form["region"] = []string{"lagos", "sg"}
	form.Set("order-sg", "1")
	form.Set("order-lagos", "2")
	form.Set("send_time", "07:15")
	form.Set("time_zone", "Asia/Singapore")
	r := f.do(t, http.MethodPost, path, form, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": f.srv.URL})
	if r.status != http.StatusOK || !strings.Contains(r.body, "Saved.") {
		t.Fatalf("POST: status %d\n%s", r.status, r.body)
	}
	got := f.load(t, sub.ID)
	if !slices.Equal(got.Regions, []string{"sg", "lagos"}) || got.SendTime != (digest.TimeOfDay{Hour: 7, Minute: 15}) ||
		got.TimeZone != "Asia/Singapore" || got.Status != digest.StatusActive || got.Email != sub.Email || got.Name != sub.Name {
		t.Fatalf("after saving: %+v", got)
	}
	// The page after saving shows what was saved, ready for another change.
	again := formValues(t, r.body)
	if !slices.Equal(again["region"], []string{"sg", "lagos"}) || again.Get("send_time") != "07:15" || again.Get(fieldFormToken) == "" {
		t.Errorf("form after saving: %v", again)
	}
}

// The page says when the reader's next digest falls due, in their zone,
// as a pass decides it: tomorrow once today's send time has passed, and
// by the settings just saved. A reader who gets no digest is told none.
func TestPreferencesNextDigest(t *testing.T) {
	f := newDBFixture(t, Options{}) // 2026-11-26 09:00Z: 10:00 in Lagos, 17:00 in Singapore
	sub := f.add(t, "ada@example.com", digest.StatusActive)
	path := "/preferences/" + f.signer.Sign("preferences", sub.ID)
	next := regexp.MustCompile(`id="next-digest">([^<]*)<`)
	nextOn := func(body string) string {
		t.Helper()
		m := next.FindStringSubmatch(body)
		if m == nil {
			return ""
		}
		return m[1]
	}

	page := f.do(t, http.MethodGet, path, nil, nil)
	if got, want := nextOn(page.body), "Friday 27 November at 06:30, when there is news in your editions"; got != want {
		t.Errorf("06:30 in Lagos, at 10:00 there: next digest %q, want %q", got, want)
	}
	f.advance(-5 * time.Hour) // 05:00 in Lagos: today's is still to come
	if got := nextOn(f.do(t, http.MethodGet, path, nil, nil).body); !strings.HasPrefix(got, "Thursday 26 November at 06:30") {
		t.Errorf("at 05:00 in Lagos: next digest %q, want today at 06:30", got)
	}
	f.advance(5 * time.Hour)

	form := formValues(t, page.body)
	form.Set("send_time", "18:00")
	form.Set("time_zone", "Asia/Singapore")
	r := f.do(t, http.MethodPost, path, form, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": f.srv.URL})
	if got := nextOn(r.body); r.status != http.StatusOK || !strings.HasPrefix(got, "Thursday 26 November at 18:00") {
		t.Errorf("after saving 18:00 in Singapore (17:00 there): status %d, next digest %q; want today at 18:00", r.status, got)
	}

	pending := f.add(t, "ben@example.com", digest.StatusPending)
	body := f.do(t, http.MethodGet, "/preferences/"+f.signer.Sign("preferences", pending.ID), nil, nil).body
	if next.MatchString(body) {
		t.Errorf("a reader who has not confirmed is told of a next digest:\n%s", body)
	}
}

// Invalid answers are shown next to their fields and change nothing.
func TestPreferencesInvalidInput(t *testing.T) {
	tests := []struct {
		name   string
		modify func(url.Values)
		field  string // id of the error element
		want   string
	}{
		{"unknown region", func(v url.Values) { v.Add("region", "mars") }, "regions-error", `Unknown region &#34;mars&#34;`},
		{"no region", func(v url.Values) { v.Del("region") }, "regions-error", "Choose at least one edition."},
		{"bad order", func(v url.Values) { v.Set("order-bxl", "first") }, "regions-error", "The order of Brussels must be a number from 1 to 3."},
		{"25:00", func(v url.Values) { v.Set("send_time", "25:00") }, "send_time-error", "is not a time of day between 00:00 and 23:59"},
		{"not a time", func(v url.Values) { v.Set("send_time", "noon") }, "send_time-error", "is not a time of day in HH:MM form"},
		{"Mars/Phobos", func(v url.Values) { v.Set("time_zone", "Mars/Phobos") }, "time_zone-error", `Unknown time zone &#34;Mars/Phobos&#34;`},
		{"Local", func(v url.Values) { v.Set("time_zone", "Local") }, "time_zone-error", "is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDBFixture(t, Options{})
			sub := f.add(t, "ada@example.com", digest.StatusActive)
			path := "/preferences/" + f.signer.Sign("preferences", sub.ID)
			form := formValues(t, f.do(t, http.MethodGet, path, nil, nil).body)
			form.Set("send_time", "08:00") // a valid change alongside the invalid one
			tt.modify(form)
			r := f.do(t, http.MethodPost, path, form, nil)
			if r.status != http.StatusUnprocessableEntity {
				t.Errorf("status %d, want 422", r.status)
			}
			m := regexp.MustCompile(`id="` + tt.field + `">([^<]*)<`).FindStringSubmatch(r.body)
			if m == nil || !strings.Contains(m[1], tt.want) {
				t.Errorf("no %s saying %q:\n%s", tt.field, tt.want, r.body)
			}
			if strings.Contains(r.body, "ada@example.com") {
				t.Error("the page shows the full address")
			}
			if got := f.load(t, sub.ID); !reflect.DeepEqual(got, sub) {
				t.Errorf("invalid input changed the record\n got %+v\nwant %+v", got, sub)
			}
			// The reader's answers are shown again for correction.
			if again := formValues(t, r.body); again.Get("send_time") != form.Get("send_time") || again.Get(fieldFormToken) == "" {
				t.Errorf("form shown again: %v", again)
			}
		})
	}
}

// A POST that did not come from a recent form of ours is refused.
func TestPreferencesRefusesForgedPosts(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(f *dbFixture, v url.Values)
		header  map[string]string
		allowed bool
	}{
		{"no form token", func(_ *dbFixture, v url.Values) { v.Del(fieldFormToken) }, nil, false},
		{"expired form token", func(f *dbFixture, _ url.Values) { f.advance(25 * time.Hour) }, nil, false},
		{"form token from the future", func(f *dbFixture, _ url.Values) { f.advance(-time.Hour) }, nil, false},
		{"damaged form token", func(f *dbFixture, v url.Values) {
			v.Set(fieldFormToken, strings.Replace(v.Get(fieldFormToken), ".", ".x", 1))
		}, nil, false},
		{"form token of another reader", func(f *dbFixture, v url.Values) {
			issued, _, _ := strings.Cut(v.Get(fieldFormToken), ".")
			v.Set(fieldFormToken, issued+"."+f.signer.Sign(purposeFormToken+"\x00"+issued, 2))
		}, nil, false},
		{"form token of another purpose", func(f *dbFixture, v url.Values) {
			issued, _, _ := strings.Cut(v.Get(fieldFormToken), ".")
			v.Set(fieldFormToken, issued+"."+f.signer.Sign("preferences", 1))
		}, nil, false},
		{"form token with a changed time", func(f *dbFixture, v url.Values) {
			_, mac, _ := strings.Cut(v.Get(fieldFormToken), ".")
			v.Set(fieldFormToken, "1"+"."+mac)
		}, nil, false},
		{"cross-site", nil, map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
		{"same-site", nil, map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{"foreign origin", nil, map[string]string{"Origin": "https://evil.example"}, false},
		{"foreign origin, same-origin claimed", nil, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"}, false},
		{"form token 23h old", func(f *dbFixture, _ url.Values) { f.advance(23 * time.Hour) }, nil, true},
		{"our own form under no-referrer", nil, map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, true},
		{"public origin behind a proxy", nil, map[string]string{"Origin": "https://news.example.org", "Sec-Fetch-Site": "same-origin"}, true},
		{"typed", nil, map[string]string{"Sec-Fetch-Site": "none"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDBFixture(t, Options{PublicURL: "https://news.example.org/digest"})
			sub := f.add(t, "ada@example.com", digest.StatusActive)
			path := "/preferences/" + f.signer.Sign("preferences", sub.ID)
			form := formValues(t, f.do(t, http.MethodGet, path, nil, nil).body)
			form.Set("send_time", "09:45")
			if tt.modify != nil {
				tt.modify(f, form)
			}
			r := f.do(t, http.MethodPost, path, form, tt.header)
			got := f.load(t, sub.ID)
			if tt.allowed {
				if r.status != http.StatusOK || got.SendTime.String() != "09:45" {
					t.Errorf("status %d, send time %s; want 200 and the change saved\n%s", r.status, got.SendTime, r.body)
				}
				return
			}
			if r.status != http.StatusForbidden || strings.Contains(r.body, fieldFormToken) {
				t.Errorf("status %d, want 403 without a fresh form\n%s", r.status, r.body)
			}
			if !reflect.DeepEqual(got, sub) {
				t.Errorf("a refused POST changed the record\n got %+v\nwant %+v", got, sub)
			}
		})
	}
}

// The unsubscribe button of the preferences page works as before, and a
// reader no longer subscribed gets no settings form.
func TestPreferencesUnsubscribe(t *testing.T) {
	f := newDBFixture(t, Options{})
	sub := f.add(t, "ada@example.com", digest.StatusActive)
	path := "/preferences/" + f.signer.Sign("preferences", sub.ID)
	form := formValues(t, f.do(t, http.MethodGet, path, nil, nil).body) // taken before unsubscribing
	r := f.do(t, http.MethodPost, path+"/unsubscribe", url.Values{"List-Unsubscribe": {"One-Click"}}, nil)
	if r.status != http.StatusOK || f.load(t, sub.ID).Status != digest.StatusUnsubscribed {
		t.Fatalf("unsubscribe from preferences: status %d, reader %s", r.status, f.load(t, sub.ID).Status)
	}
	page := f.do(t, http.MethodGet, path, nil, nil)
	if strings.Contains(page.body, "<form") || !strings.Contains(page.body, "not subscribed") {
		t.Errorf("page of an unsubscribed reader:\n%s", page.body)
	}
	// A form loaded before the unsubscribe cannot change settings after it.
	form.Set("send_time", "10:00")
	before := f.load(t, sub.ID)
	if r := f.do(t, http.MethodPost, path, form, nil); r.status != http.StatusConflict {
		t.Errorf("saving after unsubscribing: status %d, want 409", r.status)
	}
	if got := f.load(t, sub.ID); !reflect.DeepEqual(got, before) {
		t.Errorf("settings saved for an unsubscribed reader: %+v", got)
	}
}
