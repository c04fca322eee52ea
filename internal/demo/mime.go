package demo

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Part is one decoded leaf part of a received message.
type Part struct {
	ContentType string // media type, lower case: "text/html"
	Charset     string
	Body        []byte // transfer-decoded
}

// Parts parses a raw RFC 5322 message and returns its leaf parts, decoded,
// in order. It reads what a mail client reads, so the demo can write the
// HTML a reader would see and tests can check what was really sent.
func Parts(raw []byte) (*mail.Message, []Part, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("parse message: %w", err)
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return nil, nil, err
	}
	parts, err := leafParts(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), body)
	return msg, parts, err
}

func leafParts(contentType, encoding string, body []byte) ([]Part, error) {
	if contentType == "" {
		contentType = "text/plain; charset=us-ascii"
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("content-type %q: %w", contentType, err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		dec, err := decodeTransfer(encoding, body)
		if err != nil {
			return nil, err
		}
		return []Part{{ContentType: mt, Charset: strings.ToLower(params["charset"]), Body: dec}}, nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out []Part
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("multipart: %w", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, err
		}
		sub, err := leafParts(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), b)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
}

func decodeTransfer(encoding string, body []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	case "base64":
		return io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.ReplaceAll(bytes.ReplaceAll(body, []byte("\r"), nil), []byte("\n"), nil))))
	}
	return nil, fmt.Errorf("unknown content-transfer-encoding %q", encoding)
}

// PartOf returns the first part with the given media type.
func PartOf(parts []Part, mediaType string) (Part, bool) {
	for _, p := range parts {
		if p.ContentType == mediaType {
			return p, true
		}
	}
	return Part{}, false
}
