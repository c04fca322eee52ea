package preview_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzPreviewQuery throws arbitrary parameters at /api/preview: every
// answer is JSON with 200, or an error naming the problem with 400 or 404;
// nothing panics or fails inside.
func FuzzPreviewQuery(f *testing.F) {
	for _, seed := range [][4]string{
		{"ada@example.com", "", "", ""},
		{"", "lagos,bxl", "", "2026-11-26T06:00"},
		{"", "sg", "Europe/Brussels", "2026-11-26T06:00:00Z"},
		{"", "bxl,,bxl,", "Local", "2026-02-30T25:61"},
		{"nobody@example.com", "bxl", "../../etc/passwd", "tomorrow"},
		{"", " ", "UTC", "2026-03-29T02:30"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, email, regions, tz, at string) {
		s, _ := newTestServer(t, nil, "")
		q := url.Values{"email": {email}, "regions": {regions}, "tz": {tz}, "at": {at}}
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8081/api/preview?"+q.Encode(), nil)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 404:
		default:
			t.Fatalf("status %d for %v: %s", w.Code, q, w.Body)
		}
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("not JSON for %v: %v", q, err)
		}
		if w.Code != 200 && body["error"] == "" {
			t.Fatalf("no error message for %v", q)
		}
	})
}
