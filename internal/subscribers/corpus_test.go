package subscribers

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// readAll runs ReadImport and collects the rows.
func readAll(r io.Reader, opts ImportOptions) ([]Row, []Problem, error) {
	var rows []Row
	problems, err := ReadImport(r, opts, func(row Row) { rows = append(rows, row) })
	return rows, problems, err
}

// summarise renders what ReadImport returned, one line per row and then
// one per problem, for comparison with the expected outcome.
func summarise(rows []Row, problems []Problem) []string {
	var out []string
	for _, r := range rows {
		s := r.Subscriber
		out = append(out, fmt.Sprintf("row %d: %s|%s|%s|%s|%s|%s", r.Line, s.Email, s.Name,
			strings.Join(s.Regions, ","), s.TimeZone, s.SendTime, s.Status))
	}
	for _, p := range problems {
		out = append(out, p.Error())
	}
	return out
}

// TestHostileCorpus reads each file of testdata/import, the shapes of
// file operators actually get from spreadsheets and other tools. Every
// good record of each file is kept, and every bad one is reported on the
// line it starts on, without losing its neighbours.
func TestHostileCorpus(t *testing.T) {
	tests := []struct {
		file    string
		want    []string
		wantErr string
	}{
		{file: "bom.csv", want: []string{"row 2: ada@example.org||lagos|Africa/Lagos|06:00|active"}},
		{file: "mixed-line-endings.csv", want: []string{
			"row 2: ada@example.org|Ada|lagos|Africa/Lagos|06:00|active",
			"row 3: bob@example.org|Bob|bxl|Europe/Brussels|06:00|active",
			"row 5: cyd@example.org|Cyd|dc|America/New_York|06:00|active",
		}},
		{file: "quotes.csv", want: []string{
			`row 2: ada@example.org|Ada "The Pen" Okafor|lagos,bxl|Africa/Lagos|06:00|active`,
			"row 3: bob@example.org|O'Brien, Bob|dc,bxl|America/New_York|06:00|active",
		}},
		{file: "multiline-name.csv", want: []string{
			"row 4: bob@example.org|Bob|bxl|Europe/Brussels|06:00|active",
			"multiline-name.csv:2: name: must be one line without control characters",
		}},
		{file: "formula.csv", want: []string{
			`row 2: ada@example.org|=HYPERLINK("http://evil","x")|lagos|Africa/Lagos|06:00|active`,
			// The apostrophe an export adds is taken off again...
			`row 3: bob@example.org|=HYPERLINK("http://evil","y")|bxl|Europe/Brussels|06:00|active`,
			// ...and only that one.
			"row 4: cyd@example.org|'quoted'|dc|America/New_York|06:00|active",
			"row 5: dan@example.org|-5 Dan|dc|America/New_York|06:00|active",
		}},
		{file: "long-line.csv", want: []string{
			"row 3: bob@example.org|Bob|bxl|Europe/Brussels|06:00|active",
			"long-line.csv:2: name: is 100000 characters long; the limit is 200",
		}},
		{file: "invalid-utf8.csv", want: []string{
			"row 3: bob@example.org|Bob|bxl|Europe/Brussels|06:00|active",
			"invalid-utf8.csv:2: name: is not valid UTF-8 (save the file as UTF-8)",
		}},
		{file: "bare-quote.csv", want: []string{
			"row 3: bob@example.org|Bob|bxl|Europe/Brussels|06:00|active",
			`bare-quote.csv:2: a " inside a field that does not start with one (line 2, column 21): quote the whole field and double the " inside it`,
		}},
		{file: "unterminated-quote.csv", want: []string{
			"row 2: bob@example.org|Bob|bxl|Europe/Brussels|06:00|active",
			`unterminated-quote.csv:3: a quoted field is not closed, or has text after its closing " (line 4, column 24)`,
		}},
		{file: "field-count.csv", want: []string{
			"row 3: bob@example.org|Bob|bxl|Europe/Brussels|06:00|active",
			"field-count.csv:2: has 4 fields; the header has 3 (quote a field that holds a comma)",
		}},
		{file: "header-only.csv", want: nil},
		{file: "empty.csv", wantErr: "empty.csv:1: the file is empty; the first line must name the columns, e.g. email,name,regions,timezone,send_time,status"},
		{file: "readers.jsonl", want: []string{
			"row 1: ada@example.org|Ada|lagos,bxl|Africa/Lagos|06:00|active",
			"row 4: cyd@example.org||dc|America/New_York|07:15|active",
			`readers.jsonl:3: regions: must be an array of region codes, like ["lagos","bxl"]`,
			"readers.jsonl:5: is not a JSON object: invalid character 'o' in literal null (expecting 'u') at byte 2",
			"readers.jsonl:6: is not a JSON object: found a JSON array",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "import", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rows, problems, err := readAll(f, ImportOptions{File: tt.file, Format: FormatFor(tt.file), Defaults: testDefaults})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := summarise(rows, problems); !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
