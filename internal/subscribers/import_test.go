package subscribers

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	digest "github.com/newsroom/digest"
)

// readCSV imports a CSV text as readers.csv.
func readCSV(t *testing.T, text string, opts ImportOptions) ([]Row, []Problem, error) {
	t.Helper()
	opts.File, opts.Format, opts.Defaults = "readers.csv", CSV, testDefaults
	return readAll(strings.NewReader(text), opts)
}

// TestImportRules checks every rule a record must meet, one bad value at
// a time, with the exact message an operator reads. The record starts on
// line 3 (line 2 is a good one), so the line number is checked too.
func TestImportRules(t *testing.T) {
	const header = "email,name,regions,timezone,send_time,status\n"
	const good = "ok@example.org,Ok,dc,,,\n"
	tests := []struct {
		name   string
		record string
		want   []string
	}{
		{"missing email", ",Ada,lagos,,,", []string{"readers.csv:3: email: is required"}},
		{"no @", "ada.example.org,Ada,lagos,,,", []string{`readers.csv:3: email: has no "@"; an address looks like name@example.org`}},
		{"display name", `"Ada <ada@example.org>",Ada,lagos,,,`, []string{"readers.csv:3: email: must not contain spaces or control characters"}},
		{"no dot in domain", "ada@localhost,Ada,lagos,,,", []string{`readers.csv:3: email: domain "localhost" has no dot; an address looks like name@example.org`}},
		{"bad IDN domain", "ada@xn--.org,Ada,lagos,,,", []string{`readers.csv:3: email: domain "xn--.org" is not a valid domain name`}},
		{"name with a tab", "ada@example.org,\"Ada\tO\",lagos,,,", []string{"readers.csv:3: name: must be one line without control characters"}},
		{"name too long", "ada@example.org," + strings.Repeat("n", 201) + ",lagos,,,", []string{"readers.csv:3: name: is 201 characters long; the limit is 200"}},
		{"no regions", "ada@example.org,Ada,,,,", []string{"readers.csv:3: regions: at least one region is required (known: dc, bxl, lagos)"}},
		{"only separators", "ada@example.org,Ada,\";,\",,,", []string{"readers.csv:3: regions: at least one region is required (known: dc, bxl, lagos)"}},
		{"unknown region", "ada@example.org,Ada,\"lagos,mars\",,,", []string{`readers.csv:3: regions: unknown region "mars" (known: dc, bxl, lagos)`}},
		{"region twice", "ada@example.org,Ada,lagos;dc;lagos,,,", []string{`readers.csv:3: regions: lists "lagos" twice`}},
		{"unknown zone", "ada@example.org,Ada,lagos,Mars/Olympus,,", []string{`readers.csv:3: timezone: unknown time zone "Mars/Olympus" (use an IANA name such as Europe/Brussels)`}},
		{"Local zone", "ada@example.org,Ada,lagos,Local,,", []string{`readers.csv:3: timezone: "Local" is not allowed: name an IANA zone such as Europe/Brussels`}},
		{"send time not HH:MM", "ada@example.org,Ada,lagos,,7am,", []string{`readers.csv:3: send_time: "7am" is not a time of day in HH:MM form`}},
		{"send time out of range", "ada@example.org,Ada,lagos,,24:30,", []string{`readers.csv:3: send_time: "24:30" is not a time of day between 00:00 and 23:59`}},
		{"unknown status", "ada@example.org,Ada,lagos,,,gone", []string{`readers.csv:3: status: unknown status "gone" (one of pending, active, unsubscribed, bounced, expired)`}},
		{"duplicate of a good record, other case", "OK@EXAMPLE.ORG,Ok again,dc,,,", []string{"readers.csv:3: email: duplicate of line 2"}},
		{"wrong field count", "ada@example.org,Ada,lagos,,", []string{"readers.csv:3: has 5 fields; the header has 6 (quote a field that holds a comma)"}},
		{"every problem of a record, in column order", "ada@localhost,\"a\nb\",mars,Nowhere,25:00,gone", []string{
			`readers.csv:3: email: domain "localhost" has no dot; an address looks like name@example.org`,
			"readers.csv:3: name: must be one line without control characters",
			`readers.csv:3: regions: unknown region "mars" (known: dc, bxl, lagos)`,
			`readers.csv:3: timezone: unknown time zone "Nowhere" (use an IANA name such as Europe/Brussels)`,
			`readers.csv:3: send_time: "25:00" is not a time of day between 00:00 and 23:59`,
			`readers.csv:3: status: unknown status "gone" (one of pending, active, unsubscribed, bounced, expired)`,
		}},
		{"a huge value is cut short in the message", "ada@example.org,Ada,lagos," + strings.Repeat("Z", 400) + ",,", []string{
			`readers.csv:3: timezone: unknown time zone "` + strings.Repeat("Z", 400)[:300-len(`unknown time zone "`)] + "… (463 bytes in all)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, problems, err := readCSV(t, header+good+tt.record+"\n", ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := summarise(nil, problems); !slices.Equal(got, tt.want) {
				t.Errorf("problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if len(rows) != 1 || rows[0].Subscriber.Email != "ok@example.org" {
				t.Errorf("rows %v, want only the good record of line 2", summarise(rows, nil))
			}
		})
	}
}

// A record whose address is taken by an earlier invalid record is still a
// duplicate: fixing the first must not reveal the second.
func TestImportDuplicateOfInvalidRecord(t *testing.T) {
	_, problems, err := readCSV(t, "email,regions\nada@example.org,mars\nx@example.org,dc\nAda@Example.org,lagos\n", ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`readers.csv:2: regions: unknown region "mars" (known: dc, bxl, lagos)`,
		"readers.csv:4: email: duplicate of line 2",
	}
	if got := summarise(nil, problems); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestImportValues(t *testing.T) {
	text := " Email , REGIONS ,Send_Time,Name,TimeZone,status,created_at,consent_source\r\n" +
		"Ada@Example.ORG, lagos ; bxl ,07:30,  Ada Okafor ,Asia/Tokyo,PENDING,2026-01-01T00:00:00Z,cli\r\n" +
		"bob@example.org,bxl,,,,,,\r\n"
	rows, problems, err := readCSV(t, text, ImportOptions{})
	if err != nil || len(problems) > 0 {
		t.Fatalf("err %v, problems %v", err, problems)
	}
	want := []Row{
		{Line: 2, Subscriber: digest.Subscriber{Email: "Ada@example.org", Name: "Ada Okafor", Regions: []string{"lagos", "bxl"},
			TimeZone: "Asia/Tokyo", SendTime: digest.TimeOfDay{Hour: 7, Minute: 30}, Status: digest.StatusPending},
			HasName: true, HasTimeZone: true, HasSendTime: true, HasStatus: true},
		{Line: 3, Subscriber: digest.Subscriber{Email: "bob@example.org", Regions: []string{"bxl"},
			TimeZone: "Europe/Brussels", SendTime: digest.TimeOfDay{Hour: 6}, Status: digest.StatusActive}},
	}
	for i := range want {
		if got := rows[i]; got.Line != want[i].Line || !sameSubscriber(got.Subscriber, want[i].Subscriber) ||
			[4]bool{got.HasName, got.HasTimeZone, got.HasSendTime, got.HasStatus} !=
				[4]bool{want[i].HasName, want[i].HasTimeZone, want[i].HasSendTime, want[i].HasStatus} {
			t.Errorf("row %d\n got %+v\nwant %+v", i, got, want[i])
		}
	}
}

func sameSubscriber(a, b digest.Subscriber) bool {
	return a.Email == b.Email && a.Name == b.Name && slices.Equal(a.Regions, b.Regions) && a.TimeZone == b.TimeZone &&
		a.SendTime == b.SendTime && a.Status == b.Status
}

// TestImportHeader checks the problems that stop a file before its first
// record: they come as the error, naming line 1.
func TestImportHeader(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		ignore bool
		want   string // "" means accepted
	}{
		{"order and case free", "Regions,EMAIL\nlagos,ada@example.org\n", false, ""},
		{"unknown columns", "email,regions,phone,Zip code\n", false,
			`readers.csv:1: header: unknown columns "phone", "Zip code" (known: email, name, regions, timezone, send_time, status, created_at, consent_source; --ignore-columns skips unknown columns)`},
		{"unknown column ignored", "email,regions,phone\nada@example.org,lagos,555\n", true, ""},
		{"no email column", "name,regions\n", false,
			"readers.csv:1: header: no email column (the first line must name the columns, e.g. email,name,regions,timezone,send_time,status)"},
		{"data instead of a header", "ada@example.org,lagos\n", false,
			`readers.csv:1: header: unknown columns "ada@example.org", "lagos" (known: email, name, regions, timezone, send_time, status, created_at, consent_source; --ignore-columns skips unknown columns)`},
		{"column twice", "email,Email ,regions\n", false, `readers.csv:1: header: column "email" appears twice (columns 1 and 2)`},
		{"bad quoting", "email,\"regions\n", false, `readers.csv:1: header: a quoted field is not closed, or has text after its closing " (line 1, column 16)`},
		{"empty", "", false, "readers.csv:1: the file is empty; the first line must name the columns, e.g. email,name,regions,timezone,send_time,status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems, err := readCSV(t, tt.text, ImportOptions{IgnoreColumns: tt.ignore})
			if tt.want == "" {
				if err != nil || len(problems) > 0 {
					t.Errorf("refused: %v %v", err, problems)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v\nwant %s", err, tt.want)
			}
			var p Problem
			if err != nil && !errors.As(err, &p) {
				t.Errorf("error %T is not a Problem", err)
			}
		})
	}
}

func TestImportJSONLines(t *testing.T) {
	text := "\ufeff" + `{"email":"ada@example.org","regions":["lagos","bxl"],"name":"Ada","timezone":null}` + "\n" +
		`{"EMAIL":"bob@example.org","Regions":["dc"],"phone":"555"}` + "\n" +
		`{"email":"cyd@example.org","regions":["dc"],"send_time":730}` + "\n" +
		`{"email":"dan@example.org","regions":["dc"],"email":"eve@example.org"}` + "\n" +
		"   \n" +
		"{\"email\":\"fay@example.org\",\"regions\":[\"dc\"],\"name\":\"F\xff\"}\n" +
		`{"email":"gil@example.org","regions":["dc"],"created_at":"2026-01-01T00:00:00Z","consent_source":"web"}`
	tests := []struct {
		ignore bool
		want   []string
	}{
		{false, []string{
			"row 1: ada@example.org|Ada|lagos,bxl|Africa/Lagos|06:00|active",
			"row 4: eve@example.org||dc|America/New_York|06:00|active",
			"row 7: gil@example.org||dc|America/New_York|06:00|active",
			`readers.jsonl:2: unknown key "phone" (known: email, name, regions, timezone, send_time, status, created_at, consent_source; --ignore-columns skips unknown keys)`,
			"readers.jsonl:3: send_time: must be a string",
			"readers.jsonl:6: is not valid UTF-8 (save the file as UTF-8)",
		}},
		{true, []string{
			"row 1: ada@example.org|Ada|lagos,bxl|Africa/Lagos|06:00|active",
			"row 2: bob@example.org||dc|America/New_York|06:00|active",
			"row 4: eve@example.org||dc|America/New_York|06:00|active",
			"row 7: gil@example.org||dc|America/New_York|06:00|active",
			"readers.jsonl:3: send_time: must be a string",
			"readers.jsonl:6: is not valid UTF-8 (save the file as UTF-8)",
		}},
	}
	for _, tt := range tests {
		rows, problems, err := readAll(strings.NewReader(text), ImportOptions{File: "readers.jsonl", Format: JSONLines,
			Defaults: testDefaults, IgnoreColumns: tt.ignore})
		if err != nil {
			t.Fatal(err)
		}
		if got := summarise(rows, problems); !slices.Equal(got, tt.want) {
			t.Errorf("ignore columns %v: got\n%s\nwant\n%s", tt.ignore, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
	// Keys differing only in case are one key given twice.
	_, problems, _ := readAll(strings.NewReader(`{"email":"a@example.org","Email":"b@example.org","regions":["dc"]}`),
		ImportOptions{File: "r.jsonl", Format: JSONLines, Defaults: testDefaults})
	if got := summarise(nil, problems); !slices.Equal(got, []string{"r.jsonl:1: email: appears twice"}) {
		t.Errorf("a key twice: %q", got)
	}
}

func TestFormatFor(t *testing.T) {
	for name, want := range map[string]Format{"a.csv": CSV, "a.CSV": CSV, "a.jsonl": JSONLines, "x/a.NDJSON": JSONLines, "-": CSV, "a.txt": CSV} {
		if got := FormatFor(name); got != want {
			t.Errorf("FormatFor(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestNeutralise checks the formula rule both ways, and that it is a
// bijection on the cells it touches.
func TestNeutralise(t *testing.T) {
	tests := []struct{ in, exported string }{
		{`=HYPERLINK("http://evil","x")`, `'=HYPERLINK("http://evil","x")`},
		{"+1 555 0100", "'+1 555 0100"},
		{"-5", "'-5"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"'=already", "''=already"},
		{"''+twice", "'''+twice"},
		{"'quoted'", "'quoted'"},
		{"'", "'"},
		{"Ada", "Ada"},
		{"a=b", "a=b"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := neutralise(tt.in); got != tt.exported {
			t.Errorf("neutralise(%q) = %q, want %q", tt.in, got, tt.exported)
		}
		if got := unneutralise(tt.exported); got != tt.in {
			t.Errorf("unneutralise(%q) = %q, want %q", tt.exported, got, tt.in)
		}
	}
}

// TestExportImportRoundTrip writes subscribers with awkward values in
// both formats and reads them back as the same subscribers.
func TestExportImportRoundTrip(t *testing.T) {
	subs := []digest.Subscriber{
		{Email: "ada@example.org", Name: `=HYPERLINK("http://evil","x")`, Regions: []string{"lagos", "bxl"}, TimeZone: "Africa/Lagos",
			SendTime: digest.TimeOfDay{Hour: 6, Minute: 30}, Status: digest.StatusActive, Consent: digest.Consent{Source: "=cmd|' /C calc'!A0"}},
		{Email: "-bob@example.org", Name: `Bob "The Pen", O'Brien`, Regions: []string{"dc"}, TimeZone: "America/New_York",
			Status: digest.StatusUnsubscribed},
		{Email: "用户@例子.中国", Name: "'=already neutral", Regions: []string{"bxl", "dc", "lagos"}, TimeZone: "Asia/Tokyo",
			SendTime: digest.TimeOfDay{Hour: 23, Minute: 59}, Status: digest.StatusPending},
		{Email: "eve@example.org", Name: "+@-", Regions: []string{"dc"}, TimeZone: "UTC", Status: digest.StatusExpired},
	}
	for _, f := range []Format{CSV, JSONLines} {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			e, err := NewExporter(&buf, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range subs {
				if err := e.Write(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
			if f == CSV && !strings.Contains(buf.String(), `"'=HYPERLINK(""http://evil"",""x"")"`) {
				t.Errorf("the formula is not neutralised in\n%s", buf.String())
			}
			rows, problems, err := readAll(&buf, ImportOptions{File: "export", Format: f, Defaults: testDefaults})
			if err != nil || len(problems) > 0 {
				t.Fatalf("re-import: %v %v", err, problems)
			}
			if len(rows) != len(subs) {
				t.Fatalf("%d rows back, want %d", len(rows), len(subs))
			}
			for i, r := range rows {
				if !sameSubscriber(r.Subscriber, subs[i]) {
					t.Errorf("round trip changed a subscriber\n got %+v\nwant %+v", r.Subscriber, subs[i])
				}
			}
		})
	}
}

func TestExportCSVHeader(t *testing.T) {
	var buf bytes.Buffer
	e, _ := NewExporter(&buf, CSV)
	_ = e.Flush()
	if got, want := buf.String(), "email,name,regions,timezone,send_time,status,created_at,consent_source\n"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
}

// FuzzImport feeds arbitrary bytes to both formats. ReadImport must not
// panic; every row it accepts must be a subscriber New accepts as is, on
// a line that exists, with an address no other row has; and the rows must
// survive an export and a re-import unchanged.
func FuzzImport(f *testing.F) {
	seeds := []string{
		"email,name,regions\nada@example.org,Ada,lagos\n",
		"\ufeffEmail,Regions\r\nada@example.org,\"lagos,bxl\"\r\n",
		"email,name,regions\nada@example.org,\"=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",lagos\n",
		"email,name,regions\nada@example.org,\"'=x\",lagos\nADA@example.org,b,dc\n",
		"email,regions\n\"unterminated,lagos\n",
		"email,regions,x\na@b.c,dc,1\n",
		`{"email":"ada@example.org","regions":["lagos"],"send_time":"07:00"}` + "\n" + `{"email":1}`,
		"email,name,regions,timezone,send_time,status\nz@example.org,Z,dc,UTC,23:59,bounced\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, jsonl bool) {
		format := CSV
		if jsonl {
			format = JSONLines
		}
		rows, problems, err := readAll(bytes.NewReader(data), ImportOptions{File: "f", Format: format, Defaults: testDefaults})
		if err != nil {
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		seen := map[string]bool{}
		for _, r := range rows {
			if r.Line < 1 || r.Line > lines {
				t.Fatalf("row on line %d of a %d-line input", r.Line, lines)
			}
			s := r.Subscriber
			again, err := New(Input{Email: s.Email, Name: s.Name, Regions: s.Regions, TimeZone: s.TimeZone,
				SendTime: s.SendTime.String(), Status: s.Status}, testDefaults)
			if err != nil || !sameSubscriber(again, s) {
				t.Fatalf("accepted %+v, which New reads as %+v, %v", s, again, err)
			}
			if k := strings.ToLower(s.Email); seen[k] {
				t.Fatalf("two rows for %s", s.Email)
			} else {
				seen[k] = true
			}
		}
		for _, p := range problems {
			if p.Line < 1 || p.Line > lines || p.Reason == "" {
				t.Fatalf("problem %q of a %d-line input", p.Error(), lines)
			}
		}
		var buf bytes.Buffer
		e, _ := NewExporter(&buf, format)
		for _, r := range rows {
			if err := e.Write(r.Subscriber); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		back, problems, err := readAll(&buf, ImportOptions{File: "export", Format: format, Defaults: testDefaults})
		if err != nil || len(problems) > 0 || len(back) != len(rows) {
			t.Fatalf("re-import of the export: %v %v, %d rows of %d\n%s", err, problems, len(back), len(rows), buf.String())
		}
		for i := range rows {
			if !sameSubscriber(back[i].Subscriber, rows[i].Subscriber) {
				t.Fatalf("export and re-import changed %+v into %+v", rows[i].Subscriber, back[i].Subscriber)
			}
		}
	})
}
