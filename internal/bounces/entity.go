package bounces

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
)

// Bounds on the work one message may cause. Bounce mail comes from strangers,
// so a crafted message must not make the parser allocate or recurse without end.
const (
	// MaxMessageSize is the largest message parse accepts, in bytes.
	MaxMessageSize = 10 << 20
	// maxDepth bounds nesting of multiparts and enclosed messages.
	maxDepth = 8
	// maxParts bounds the MIME entities built for one message.
	maxParts = 200
	// maxDecoded bounds the bytes produced by transfer decoding for one message.
	maxDecoded = 32 << 20
	// maxReports bounds the reports taken from one message.
	maxReports = 1000
)

// field is one header field; name is lowercased, value unfolded.
type field struct{ name, value string }

// header is a header block in order of appearance.
type header []field

// get returns the first value of the named field (lowercase name), or "".
func (h header) get(name string) string {
	for _, f := range h {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// all returns every value of the named field (lowercase name).
func (h header) all(name string) []string {
	var vs []string
	for _, f := range h {
		if f.name == name {
			vs = append(vs, f.value)
		}
	}
	return vs
}

// nextLine returns the line at the start of data without its line ending,
// and the rest after the line ending.
func nextLine(data []byte) (line, rest []byte) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		return bytes.TrimSuffix(data, []byte("\r")), nil
	}
	return bytes.TrimSuffix(data[:i], []byte("\r")), data[i+1:]
}

// fieldName returns the name of a header line "Name: value", or "" when the
// line is not one. Names are printable ASCII without spaces or colons.
func fieldName(line []byte) string {
	i := bytes.IndexByte(line, ':')
	if i <= 0 || i > 76 {
		return ""
	}
	for _, c := range line[:i] {
		if c <= ' ' || c > '~' {
			return ""
		}
	}
	return string(line[:i])
}

// parseHeader reads the header block at the start of data, up to the first
// empty line, and returns it with the body after it. It is tolerant where
// net/textproto is strict: a malformed line inside the block is skipped, and
// data that does not begin with a header field has no header at all.
func parseHeader(data []byte) (header, []byte) {
	var (
		h    header
		name string          // current field, "" before the first
		val  strings.Builder // its value, unfolded; a builder keeps long folds linear
	)
	flush := func() {
		if name != "" {
			h = append(h, field{name: name, value: val.String()})
		}
		val.Reset()
	}
	rest := data
	for len(rest) > 0 {
		line, after := nextLine(rest)
		if len(line) == 0 {
			flush()
			return h, after
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != "" {
				if v := bytes.TrimSpace(line); len(v) > 0 {
					if val.Len() > 0 {
						val.WriteByte(' ')
					}
					val.Write(v)
				}
			}
			rest = after
			continue
		}
		n := fieldName(line)
		if n == "" {
			if name == "" && len(h) == 0 {
				return nil, data
			}
			rest = after // a stray line inside the block
			continue
		}
		flush()
		name = strings.ToLower(n)
		val.Write(bytes.TrimSpace(line[len(n)+1:]))
		rest = after
	}
	flush()
	return h, nil
}

// skipEnvelopeLine drops a leading mbox "From sender date" line, which some
// tools leave on saved messages and on returned copies of the original.
func skipEnvelopeLine(data []byte) []byte {
	data = bytes.TrimLeft(data, "\r\n")
	if bytes.HasPrefix(data, []byte("From ")) {
		_, rest := nextLine(data)
		return rest
	}
	return data
}

// entity is one MIME entity: a message or a body part.
type entity struct {
	header    header
	mediaType string            // lowercased, "text/plain" when absent
	params    map[string]string // lowercased names
	body      []byte            // transfer-decoded body of a leaf
	parts     []*entity         // children of a multipart
	enclosed  *entity           // the message inside message/rfc822
}

// parseState carries the budgets of one parse call.
type parseState struct {
	parts   int
	decoded int
}

var paramRE = regexp.MustCompile(`(?i)([a-z0-9_*.-]+)\s*=\s*(?:"([^"]*)"|([^;\s]+))`)

// mediaType parses a Content-Type value, falling back to a lenient reading
// when mime.ParseMediaType refuses it (duplicate or malformed parameters are
// common in bounces).
func mediaType(v string) (string, map[string]string) {
	if v == "" {
		return "text/plain", map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err == nil {
		return mt, params
	}
	mt, rest, _ := strings.Cut(v, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	params = map[string]string{}
	for _, m := range paramRE.FindAllStringSubmatch(rest, 20) {
		name := strings.ToLower(m[1])
		if _, ok := params[name]; ok {
			continue
		}
		if m[2] != "" {
			params[name] = m[2]
		} else {
			params[name] = m[3]
		}
	}
	if !strings.Contains(mt, "/") {
		mt = "text/plain"
	}
	return mt, params
}

// parseEntity builds the entity tree of data within the budgets of st.
func parseEntity(data []byte, depth int, st *parseState) *entity {
	st.parts++
	h, body := parseHeader(data)
	mt, params := mediaType(h.get("content-type"))
	e := &entity{header: h, mediaType: mt, params: params}
	room := depth < maxDepth && st.parts < maxParts
	switch {
	case strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && room:
		for _, p := range splitMultipart(body, params["boundary"], maxParts-st.parts) {
			if st.parts >= maxParts {
				break
			}
			e.parts = append(e.parts, parseEntity(p, depth+1, st))
		}
		if len(e.parts) == 0 {
			// No delimiter line at all: some MTAs declare multipart and
			// write plain text. Keep the text as evidence.
			e.body = body
		}
	case (mt == "message/rfc822" || mt == "message/global") && room:
		e.enclosed = parseEntity(skipEnvelopeLine(decodeTransfer(body, h.get("content-transfer-encoding"), st)), depth+1, st)
	default:
		e.body = decodeTransfer(body, h.get("content-transfer-encoding"), st)
	}
	return e
}

// splitMultipart returns up to limit body parts between boundary delimiter
// lines. A missing close delimiter (truncated bounces) ends the last part at
// the end.
func splitMultipart(body []byte, boundary string, limit int) [][]byte {
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1 // offset of the current part, -1 in the preamble
	for off := 0; off < len(body); {
		line, rest := nextLine(body[off:])
		next := len(body) - len(rest)
		if bytes.HasPrefix(line, delim) {
			tail := bytes.TrimRight(line[len(delim):], " \t")
			closing := bytes.Equal(tail, []byte("--"))
			if closing || len(tail) == 0 {
				if start >= 0 {
					parts = append(parts, trimLineEnd(body[start:off]))
				}
				if closing || len(parts) >= limit {
					return parts
				}
				start = next
			}
		}
		off = next
	}
	if start >= 0 && start < len(body) {
		parts = append(parts, body[start:])
	}
	return parts
}

// trimLineEnd drops the line break that belongs to the following delimiter.
func trimLineEnd(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// decodeTransfer undoes a Content-Transfer-Encoding. Broken encodings decode
// as far as they go rather than fail: the readable rest is still evidence.
func decodeTransfer(body []byte, cte string, st *parseState) []byte {
	if st.decoded+len(body) > maxDecoded {
		return nil
	}
	st.decoded += len(body)
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return decodeQuotedPrintable(body)
	case "base64":
		return decodeBase64(body)
	}
	return body
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeQuotedPrintable is a lenient RFC 2045 decoder: an "=" that starts no
// valid escape is kept as is, where mime/quotedprintable would stop.
func decodeQuotedPrintable(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		j := i + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		switch {
		case j == len(b):
			i = j
			continue
		case b[j] == '\n':
			i = j
			continue
		case b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n':
			i = j + 1
			continue
		}
		if i+2 < len(b) {
			hi, ok1 := unhex(b[i+1])
			lo, ok2 := unhex(b[i+2])
			if ok1 && ok2 {
				out = append(out, hi<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, '=')
	}
	return out
}

// decodeBase64 decodes the base64 alphabet in b, ignoring everything else
// (line breaks, stray characters, padding).
func decodeBase64(b []byte) []byte {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' {
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

// text returns the body of a leaf as UTF-8, converting from its declared
// charset when the charset is known; unknown charsets pass through, since
// the parts that matter (addresses, codes) are ASCII in every charset seen.
func (e *entity) text() string {
	b := e.body
	if cs := e.params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		if enc, _ := charset.Lookup(cs); enc != nil {
			if d, err := enc.NewDecoder().Bytes(b); err == nil {
				b = d
			}
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// decodeWords decodes RFC 2047 encoded words in a header value; a value that
// does not decode is returned as it is.
func decodeWords(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d := mime.WordDecoder{CharsetReader: func(label string, r io.Reader) (io.Reader, error) {
		return charset.NewReaderLabel(label, r)
	}}
	out, err := d.DecodeHeader(v)
	if err != nil {
		return v
	}
	return out
}
