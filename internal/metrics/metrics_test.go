package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

func TestMetricsExposition(t *testing.T) {
	m := New()
	m.DeliveryDone(digest.DeliverySent)
	m.DeliveryDone(digest.DeliverySent)
	m.DeliveryDone(digest.DeliveryDeferred)
	m.SMTPReply("4xx")
	m.Retry()
	m.PassDone(1500*time.Millisecond, 7)

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`digest_deliveries_total{state="sent"} 2`,
		`digest_deliveries_total{state="deferred"} 1`,
		`digest_deliveries_total{state="failed"} 0`,
		`digest_smtp_replies_total{class="4xx"} 1`,
		`digest_smtp_replies_total{class="5xx"} 0`,
		`digest_retries_total 1`,
		`digest_pass_duration_seconds_count 1`,
		`digest_queue_depth 7`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
