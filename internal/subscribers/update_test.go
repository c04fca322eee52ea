package subscribers

import (
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

func TestUpdate(t *testing.T) {
	ptr := func(s string) *string { return &s }
	status := func(s digest.SubscriberStatus) *digest.SubscriberStatus { return &s }
	cur := digest.Subscriber{ID: 7, Email: "ada@example.org", Name: "Ada", Regions: []string{"lagos", "bxl"},
		TimeZone: "Africa/Lagos", SendTime: digest.TimeOfDay{Hour: 6}, Status: digest.StatusActive,
		Watermark: time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC), Consent: digest.Consent{Source: "cli"}}
	own := cur
	own.TimeZone = "Asia/Tokyo"
	tests := []struct {
		name    string
		cur     digest.Subscriber
		ch      Changes
		want    string // name|regions|zone|send time|status
		wantErr string
	}{
		{"nothing", cur, Changes{}, "Ada|lagos,bxl|Africa/Lagos|06:00|active", ""},
		{"name", cur, Changes{Name: ptr("Ada Okafor")}, "Ada Okafor|lagos,bxl|Africa/Lagos|06:00|active", ""},
		{"default zone follows the new first region", cur, Changes{Regions: []string{"bxl", "dc"}}, "Ada|bxl,dc|Europe/Brussels|06:00|active", ""},
		{"a zone of their own stays", own, Changes{Regions: []string{"bxl"}}, "Ada|bxl|Asia/Tokyo|06:00|active", ""},
		{"zone given with the regions", cur, Changes{Regions: []string{"bxl"}, TimeZone: ptr("UTC")}, "Ada|bxl|UTC|06:00|active", ""},
		{"send time and status", cur, Changes{SendTime: ptr("07:15"), Status: status(digest.StatusUnsubscribed)}, "Ada|lagos,bxl|Africa/Lagos|07:15|unsubscribed", ""},
		{"bad send time", cur, Changes{SendTime: ptr("25:00")}, "", "send-time"},
		{"unknown region", cur, Changes{Regions: []string{"mars"}}, "", "mars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Update(tt.cur, tt.ch, testDefaults)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := strings.Join([]string{got.Name, strings.Join(got.Regions, ","), got.TimeZone, got.SendTime.String(), string(got.Status)}, "|")
			if p != tt.want {
				t.Errorf("got %s, want %s", p, tt.want)
			}
			if got.ID != cur.ID || got.Email != cur.Email || !got.Watermark.Equal(cur.Watermark) || got.Consent != cur.Consent {
				t.Errorf("identity changed: %+v", got)
			}
		})
	}
}
