package digest

import (
	"testing"
	"time"
)

func TestParseTimeOfDay(t *testing.T) {
	tests := []struct {
		in      string
		want    TimeOfDay
		wantErr string
	}{
		{in: "06:00", want: TimeOfDay{6, 0}},
		{in: "00:00", want: TimeOfDay{0, 0}},
		{in: "23:59", want: TimeOfDay{23, 59}},
		{in: "24:00", wantErr: `"24:00" is not a time of day between 00:00 and 23:59`},
		{in: "07:60", wantErr: `"07:60" is not a time of day between 00:00 and 23:59`},
		{in: "7:30", wantErr: `"7:30" is not a time of day in HH:MM form`},
		{in: "07:3O", wantErr: `"07:3O" is not a time of day in HH:MM form`},
		{in: "", wantErr: `"" is not a time of day in HH:MM form`},
		{in: "+7:30", wantErr: `"+7:30" is not a time of day in HH:MM form`},
	}
	for _, tt := range tests {
		got, err := ParseTimeOfDay(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseTimeOfDay(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want || got.String() != tt.in {
			t.Errorf("ParseTimeOfDay(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestTimeOfDayOn(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	lh, _ := time.LoadLocation("Australia/Lord_Howe") // 30-minute DST jump
	tests := []struct {
		name string
		tod  TimeOfDay
		day  time.Time
		loc  *time.Location
		want string // RFC 3339 in UTC
	}{
		{"ordinary day", TimeOfDay{6, 0}, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), ny, "2026-11-26T11:00:00Z"},
		{"spring forward, before the gap", TimeOfDay{1, 59}, time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), ny, "2026-03-08T06:59:00Z"},
		{"spring forward, in the gap: moved by the jump", TimeOfDay{2, 30}, time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), ny, "2026-03-08T07:30:00Z"},
		{"spring forward, after the gap", TimeOfDay{3, 0}, time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), ny, "2026-03-08T07:00:00Z"},
		{"fall back, the first 01:30", TimeOfDay{1, 30}, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ny, "2026-11-01T05:30:00Z"},
		{"fall back, after the fold", TimeOfDay{6, 0}, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ny, "2026-11-01T11:00:00Z"},
		{"half-hour jump", TimeOfDay{2, 15}, time.Date(2026, 10, 4, 0, 0, 0, 0, time.UTC), lh, "2026-10-03T15:45:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y, m, d := tt.day.Date()
			got := tt.tod.On(y, m, d, tt.loc)
			if got.UTC().Format(time.RFC3339) != tt.want {
				t.Errorf("%v on %d-%02d-%02d in %s = %v (%v), want %s", tt.tod, y, m, d, tt.loc, got.UTC(), got, tt.want)
			}
			if h, mi, _ := got.Clock(); h*60+mi < tt.tod.Hour*60+tt.tod.Minute {
				t.Errorf("%v lands at %02d:%02d local: earlier than asked", tt.tod, h, mi)
			}
		})
	}
}

func TestEmailKey(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"Ada@Example.com", "ada@example.com", true},
		{"ÄNNE@example.com", "änne@example.com", true},        // Unicode, not only ASCII
		{"änne@example.com", "a\u0308nne@example.com", false}, // no normalisation
		{"ada@example.com", "ada@example.org", false},
	}
	for _, tt := range tests {
		if got := EmailKey(tt.a) == EmailKey(tt.b); got != tt.same {
			t.Errorf("EmailKey(%q) == EmailKey(%q) is %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}
