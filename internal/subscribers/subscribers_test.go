package subscribers

import (
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"testing"

	digest "github.com/newsroom/digest"
)

var testDefaults = Defaults{
	SendTime: digest.TimeOfDay{Hour: 6},
	Regions: digest.Regions{
		{Code: "dc", Name: "Washington, D.C.", TimeZone: "America/New_York"},
		{Code: "bxl", Name: "Brussels", TimeZone: "Europe/Brussels"},
		{Code: "lagos", Name: "Lagos", TimeZone: "Africa/Lagos"},
	},
}

func TestValidateEmail(t *testing.T) {
	tests := []struct {
		in, want string // want "" means refused with wantErr
		wantErr  string
	}{
		{in: "reader@example.org", want: "reader@example.org"},
		{in: "  Reader.Name+digest@Example.ORG \n", want: "Reader.Name+digest@example.org"},
		{in: "o'brien@sub.example.co.uk", want: "o'brien@sub.example.co.uk"},
		{in: "leser@Bücher.de", want: "leser@bücher.de"},
		{in: "leser@xn--bcher-kva.de", want: "leser@bücher.de"},
		{in: "用户@例子.中国", want: "用户@例子.中国"},
		{in: "", wantErr: "email: is required"},
		{in: "Reader <reader@example.org>", wantErr: "Reader <reader@example.org>: email: must not contain spaces or control characters"},
		{in: "<reader@example.org>", wantErr: "<reader@example.org>: email: is not a plain address like name@example.org (no display name, comment, quotes or brackets)"},
		{in: "reader(comment)@example.org", wantErr: "reader(comment)@example.org: email: is not a plain address like name@example.org (no display name, comment, quotes or brackets)"},
		{in: `"reader"@example.org`, wantErr: `"reader"@example.org: email: is not a plain address like name@example.org (no display name, comment, quotes or brackets)`},
		{in: "reader@[192.0.2.1]", wantErr: `reader@[192.0.2.1]: email: domain "[192.0.2.1]" is not a valid domain name`},
		{in: "reader@example.org\r\nBcc: all@example.org", wantErr: `"reader@example.org\r\nBcc: all@example.org": email: must not contain spaces or control characters`},
		{in: "read er@example.org", wantErr: "read er@example.org: email: must not contain spaces or control characters"},
		{in: "reader.example.org", wantErr: `reader.example.org: email: has no "@"; an address looks like name@example.org`},
		{in: "a@b@example.org", wantErr: `a@b@example.org: email: has more than one "@"`},
		{in: "@example.org", wantErr: `@example.org: email: has nothing before the "@"`},
		{in: "reader@", wantErr: `reader@: email: has nothing after the "@"`},
		{in: "reader..name@example.org", wantErr: "reader..name@example.org: email: is not a plain address like name@example.org (no display name, comment, quotes or brackets)"},
		{in: "reader@example.org.", wantErr: "reader@example.org.: email: is not a plain address like name@example.org (no display name, comment, quotes or brackets)"},
		{in: strings.Repeat("a", 65) + "@example.org", wantErr: strings.Repeat("a", 65) + `@example.org: email: has more than 64 bytes before the "@"`},
		{in: "reader@" + strings.Repeat("a", 64) + ".org", wantErr: "reader@" + strings.Repeat("a", 64) + `.org: email: domain "` + strings.Repeat("a", 64) + `.org" is not a valid domain name`},
		{in: "a@" + strings.Repeat("abcdefghi.", 25) + "org", wantErr: "a@" + strings.Repeat("abcdefghi.", 25) + "org: email: is longer than 254 bytes"},
		{in: "reader@localhost", wantErr: `reader@localhost: email: domain "localhost" has no dot; an address looks like name@example.org`},
		{in: "reader@192.0.2.1", wantErr: `reader@192.0.2.1: email: domain "192.0.2.1" is an IP address or ends in a number; a domain name is needed`},
		{in: "reader@-example.org", wantErr: `reader@-example.org: email: domain "-example.org" is not a valid domain name`},
		{in: "reader@exa_mple.org", wantErr: `reader@exa_mple.org: email: domain "exa_mple.org" is not a valid domain name`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ValidateEmail(tt.in)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Errorf("ValidateEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ValidateEmail(%q) = %q, %v\nwant error %s", tt.in, got, err, tt.wantErr)
			}
			var fe *digest.FieldError
			if err != nil && (!errors.As(err, &fe) || fe.Field != "email") {
				t.Errorf("error %v is not a *digest.FieldError for email", err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want digest.Subscriber
	}{
		{"defaults", Input{Email: "reader@example.org", Regions: []string{"bxl", "dc"}},
			digest.Subscriber{Email: "reader@example.org", Regions: []string{"bxl", "dc"}, TimeZone: "Europe/Brussels",
				SendTime: digest.TimeOfDay{Hour: 6}, Status: digest.StatusActive}},
		{"everything given", Input{Email: "Reader@EXAMPLE.org", Name: "  Ada Reader ", Regions: []string{" lagos", "dc "},
			TimeZone: " Asia/Tokyo ", SendTime: "07:30", Status: digest.StatusPending},
			digest.Subscriber{Email: "Reader@example.org", Name: "Ada Reader", Regions: []string{"lagos", "dc"}, TimeZone: "Asia/Tokyo",
				SendTime: digest.TimeOfDay{Hour: 7, Minute: 30}, Status: digest.StatusPending}},
		{"UTC", Input{Email: "reader@example.org", Regions: []string{"dc"}, TimeZone: "UTC"},
			digest.Subscriber{Email: "reader@example.org", Regions: []string{"dc"}, TimeZone: "UTC",
				SendTime: digest.TimeOfDay{Hour: 6}, Status: digest.StatusActive}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := New(tt.in, testDefaults)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tt.want) {
				t.Errorf("subscriber\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestNewRules(t *testing.T) {
	valid := Input{Email: "reader@example.org", Regions: []string{"dc"}}
	tests := []struct {
		name string
		edit func(*Input)
		want []string
	}{
		{"bad email", func(in *Input) { in.Email = "reader" },
			[]string{`reader: email: has no "@"; an address looks like name@example.org`}},
		{"two-line name", func(in *Input) { in.Name = "Ada\nReader" },
			[]string{"reader@example.org: name: must be one line without control characters"}},
		{"long name", func(in *Input) { in.Name = strings.Repeat("é", 201) },
			[]string{"reader@example.org: name: is 201 characters long; the limit is 200"}},
		{"no regions", func(in *Input) { in.Regions = nil },
			[]string{"reader@example.org: regions: at least one region is required (known: dc, bxl, lagos)"}},
		{"unknown and repeated regions", func(in *Input) { in.Regions = []string{"dc", "sg", " dc", ""} },
			[]string{
				`reader@example.org: regions: unknown region "sg" (known: dc, bxl, lagos)`,
				`reader@example.org: regions: lists "dc" twice`,
				"reader@example.org: regions: has an empty region code",
			}},
		{"Local time zone", func(in *Input) { in.TimeZone = "Local" },
			[]string{`reader@example.org: timezone: "Local" is not allowed: name an IANA zone such as Europe/Brussels`}},
		{"unknown time zone", func(in *Input) { in.TimeZone = "Mars/Olympus" },
			[]string{`reader@example.org: timezone: unknown time zone "Mars/Olympus" (use an IANA name such as Europe/Brussels)`}},
		{"path as time zone", func(in *Input) { in.TimeZone = "../../etc/passwd" },
			[]string{`reader@example.org: timezone: unknown time zone "../../etc/passwd" (use an IANA name such as Europe/Brussels)`}},
		{"bad send time", func(in *Input) { in.SendTime = "6am" },
			[]string{`reader@example.org: send-time: "6am" is not a time of day in HH:MM form`}},
		{"send time out of range", func(in *Input) { in.SendTime = "24:00" },
			[]string{`reader@example.org: send-time: "24:00" is not a time of day between 00:00 and 23:59`}},
		{"unknown status", func(in *Input) { in.Status = "deleted" },
			[]string{`reader@example.org: status: unknown status "deleted" (one of pending, active, unsubscribed, bounced, expired)`}},
		{"all problems at once", func(in *Input) {
			*in = Input{Email: "x@localhost", Name: "a\tb", Regions: []string{"atlantis"}, TimeZone: "Nowhere", SendTime: "25:00", Status: "gone"}
		}, []string{
			`x@localhost: email: domain "localhost" has no dot; an address looks like name@example.org`,
			"x@localhost: name: must be one line without control characters",
			`x@localhost: regions: unknown region "atlantis" (known: dc, bxl, lagos)`,
			`x@localhost: timezone: unknown time zone "Nowhere" (use an IANA name such as Europe/Brussels)`,
			`x@localhost: send-time: "25:00" is not a time of day between 00:00 and 23:59`,
			`x@localhost: status: unknown status "gone" (one of pending, active, unsubscribed, bounced, expired)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid
			in.Regions = slices.Clone(valid.Regions)
			tt.edit(&in)
			s, err := New(in, testDefaults)
			if err == nil {
				t.Fatalf("New accepted %+v", in)
			}
			if want := strings.Join(tt.want, "\n"); err.Error() != want {
				t.Errorf("error\n%v\nwant\n%s", err, want)
			}
			if s.Email != "" {
				t.Errorf("New returned a subscriber with its error")
			}
		})
	}
}

// FuzzValidateEmail checks that no input panics ValidateEmail and that
// every address it accepts is clean and reads back through net/mail as
// itself, so it can be put into a To: header as is.
func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{
		"reader@example.org", "Reader <reader@example.org>", "leser@Bücher.de", "leser@xn--bcher-kva.de",
		"a@b@c.d", "\"a b\"@example.org", "a@[1.2.3.4]", "a@example.org\r\nBcc: x@y.z", "用户@例子.中国",
		"a@ＥＸＡＭＰＬＥ.org", "a@xn--.org", "a@\u00df.de", "a\u2028b@example.org",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ValidateEmail(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(got, "\r\n \t") || hasControl(got) {
			t.Fatalf("ValidateEmail(%q) = %q, which has a space or control character", s, got)
		}
		a, err := mail.ParseAddress(got)
		if err != nil || a.Address != got || a.Name != "" {
			t.Fatalf("ValidateEmail(%q) = %q, which net/mail reads as %v, %v", s, got, a, err)
		}
		if again, err := ValidateEmail(got); err != nil || again != got {
			t.Fatalf("ValidateEmail(%q) = %q, but that normalises to %q, %v", s, got, again, err)
		}
	})
}
