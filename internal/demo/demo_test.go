package demo

import (
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/subscribers"
)

func regions(t *testing.T) digest.Regions {
	t.Helper()
	var rs digest.Regions
	for _, r := range [][2]string{{"dc", "America/New_York"}, {"bxl", "Europe/Brussels"}, {"lagos", "Africa/Lagos"},
		{"riyadh", "Asia/Riyadh"}, {"beijing", "Asia/Shanghai"}, {"sg", "Asia/Singapore"}} {
		loc, err := time.LoadLocation(r[1])
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, digest.Region{Code: r[0], Name: r[0], TimeZone: r[1], Location: loc})
	}
	return rs
}

// The sample content goes through the real parsers; this keeps it valid as
// they tighten.
func TestSamplesParse(t *testing.T) {
	rs := regions(t)
	bs, err := sampleBriefs(rs)
	if err != nil {
		t.Fatal(err)
	}
	perRegion := map[string]int{}
	for _, b := range bs {
		perRegion[b.Region]++
	}
	for _, r := range rs {
		if perRegion[r.Code] < 2 {
			t.Errorf("region %s has %d sample briefs, want at least 2", r.Code, perRegion[r.Code])
		}
	}
	subs, err := sampleSubscribers(subscribers.Defaults{SendTime: digest.TimeOfDay{Hour: 6}, Regions: rs})
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) < 10 {
		t.Errorf("%d sample subscribers, want a dozen", len(subs))
	}
}

func TestParts(t *testing.T) {
	raw := "From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nZo=C3=AB =\r\nsays hi\r\n" +
		"--XX\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nPHA+Wm/DqzwvcD4=\r\n" +
		"--XX--\r\n"
	msg, parts, err := Parts([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Subject") != "x" || len(parts) != 2 {
		t.Fatalf("subject %q, %d parts", msg.Header.Get("Subject"), len(parts))
	}
	text, ok := PartOf(parts, "text/plain")
	if !ok || strings.TrimSpace(string(text.Body)) != "Zoë says hi" || text.Charset != "utf-8" {
		t.Errorf("text part %+v", text)
	}
	html, ok := PartOf(parts, "text/html")
	if !ok || string(html.Body) != "<p>Zoë</p>" {
		t.Errorf("html part %q", html.Body)
	}
	if _, _, err := Parts([]byte("Content-Type: multipart/alternative; boundary=\"\r\n\r\nx")); err == nil {
		t.Errorf("a broken Content-Type was accepted")
	}
}
