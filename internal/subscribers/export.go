package subscribers

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
)

// ExportColumns are the columns of an export, in order: the CSV header
// and the keys of each JSON line. The first six are what an import reads;
// created_at (RFC 3339, UTC) and consent_source are for people, and an
// import accepts and ignores them.
var ExportColumns = append(slices.Clone(importColumns), exportOnlyColumns...)

// Exporter writes subscribers one at a time, in CSV (with a header row,
// LF line ends, regions as "lagos,bxl", formula-like cells neutralised as
// described in csvsafe.go) or in JSON lines (regions as an array). What it
// writes, ReadImport reads back as the same subscribers.
type Exporter struct {
	bw  *bufio.Writer
	csv *csv.Writer   // CSV
	enc *json.Encoder // JSON lines
	rec []string
}

// NewExporter returns an Exporter writing f to w; for CSV it writes the
// header row. Call Flush at the end.
func NewExporter(w io.Writer, f Format) (*Exporter, error) {
	e := &Exporter{bw: bufio.NewWriterSize(w, 64<<10)}
	switch f {
	case CSV:
		e.csv = csv.NewWriter(e.bw)
		e.rec = make([]string, len(ExportColumns))
		if err := e.csv.Write(ExportColumns); err != nil {
			return nil, fmt.Errorf("write header: %w", err)
		}
	case JSONLines:
		e.enc = json.NewEncoder(e.bw)
		e.enc.SetEscapeHTML(false) // for people and scripts, not for a web page
	default:
		return nil, fmt.Errorf("unknown export format %q (csv or jsonl)", f)
	}
	return e, nil
}

// exportJSON is one JSON line of an export; its keys are ExportColumns.
type exportJSON struct {
	Email         string   `json:"email"`
	Name          string   `json:"name"`
	Regions       []string `json:"regions"`
	TimeZone      string   `json:"timezone"`
	SendTime      string   `json:"send_time"`
	Status        string   `json:"status"`
	CreatedAt     string   `json:"created_at"`
	ConsentSource string   `json:"consent_source"`
}

// Write writes one subscriber.
func (e *Exporter) Write(s digest.Subscriber) error {
	created := ""
	if !s.CreatedAt.IsZero() {
		created = s.CreatedAt.UTC().Format(time.RFC3339)
	}
	if e.enc != nil {
		regions := s.Regions
		if regions == nil {
			regions = []string{}
		}
		if err := e.enc.Encode(exportJSON{Email: s.Email, Name: s.Name, Regions: regions, TimeZone: s.TimeZone,
			SendTime: s.SendTime.String(), Status: string(s.Status), CreatedAt: created, ConsentSource: s.Consent.Source}); err != nil {
			return fmt.Errorf("export %s: %w", s.Email, err)
		}
		return nil
	}
	for i, v := range []string{s.Email, s.Name, strings.Join(s.Regions, ","), s.TimeZone, s.SendTime.String(),
		string(s.Status), created, s.Consent.Source} {
		e.rec[i] = neutralise(v)
	}
	if err := e.csv.Write(e.rec); err != nil {
		return fmt.Errorf("export %s: %w", s.Email, err)
	}
	return nil
}

// Flush writes out what is buffered.
func (e *Exporter) Flush() error {
	if e.csv != nil {
		e.csv.Flush()
		if err := e.csv.Error(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	if err := e.bw.Flush(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
