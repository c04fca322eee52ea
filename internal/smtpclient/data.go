package smtpclient

import (
	"bufio"
	"bytes"
	"errors"
)

// DataWriter writes a message as the content of DATA (RFC 5321 4.5.2): a
// line that begins with a dot gets a second one, a bare LF becomes CRLF,
// and the content ends with CRLF before the terminating ".". Text is
// passed on in runs between the places that need a change, so a message
// with CRLF line ends and no leading dots goes through in one piece.
//
// A DataWriter is handed to the content function of Client.Send; it never
// writes the terminating "." itself, which the client writes once ready
// allows.
type DataWriter struct {
	w   *bufio.Writer
	bol bool // at the beginning of a line
	cr  bool // the last octet written was a CR
}

func (d *DataWriter) reset(w *bufio.Writer) {
	*d = DataWriter{w: w, bol: true}
}

// Write writes p as message content. p may begin and end anywhere in a
// line.
func (d *DataWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w := d.w
	start, i := 0, 0
	for i < len(p) {
		if d.bol {
			d.bol = false
			if p[i] == '.' {
				// Up to and with the dot; the next run starts at it, so
				// the dot goes out twice.
				_, _ = w.Write(p[start : i+1])
				start = i
			}
		}
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		if (i == 0 && !d.cr) || (i > 0 && p[i-1] != '\r') {
			_, _ = w.Write(p[start:i])
			_, _ = w.WriteString("\r\n")
			start = i + 1
		}
		i++
		d.bol = true
	}
	_, _ = w.Write(p[start:])
	d.cr = p[len(p)-1] == '\r'
	// bufio.Writer keeps its first error and returns it from every later
	// call, so a failed write shows here.
	if _, err := w.Write(nil); err != nil {
		return 0, err
	}
	return len(p), nil
}

// errMidLine is WriteDotted called where a line has begun.
var errMidLine = errors.New("dotted content must start a line")

// WriteDotted writes b as Write does, for content b that starts a line and
// whose every LF follows a CR, with dots the offsets in b, in order, of
// every dot that begins a line: a caller that assembled b knows them, and
// b is then written in one piece but for doubling those dots, with no
// search of its own.
func (d *DataWriter) WriteDotted(b []byte, dots []int) error {
	if !d.bol {
		return errMidLine
	}
	if len(b) == 0 {
		return nil
	}
	w := d.w
	start := 0
	for _, dot := range dots {
		_, _ = w.Write(b[start : dot+1])
		start = dot
	}
	_, _ = w.Write(b[start:])
	last := b[len(b)-1]
	d.bol, d.cr = last == '\n', last == '\r'
	if _, err := w.Write(nil); err != nil {
		return err
	}
	return nil
}

// end writes the end of the content: CRLF if the last line is open, then
// the terminating ".", and flushes.
func (d *DataWriter) end() error {
	if !d.bol {
		_, _ = d.w.WriteString("\r\n")
	}
	_, _ = d.w.WriteString(".\r\n")
	d.bol = true
	return d.w.Flush()
}
