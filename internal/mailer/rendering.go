package mailer

import (
	"bytes"
	"fmt"

	gomail "github.com/wneessen/go-mail"

	"github.com/newsroom/digest/internal/dkim"
	"github.com/newsroom/digest/internal/smtpclient"
)

// rendering is a message as it goes over the wire: the DKIM-Signature
// field (nil when unsigned), then the rest of the message, with CRLF line
// ends. A Sender keeps one and reuses its buffers for every message.
type rendering struct {
	signature []byte
	body      []byte // the message: gomail's bytes, or spliced
	// crlf says that every line of body ends in CRLF, as splice found;
	// dots are then the offsets of the dots that begin a line, so that
	// writeData need not search body for them (see
	// smtpclient.DataWriter.WriteDotted).
	crlf bool
	dots dotTracker
	// gomail is what go-mail rendered: the message, or, when parts were
	// left to splicer (see build), the skeleton they are spliced into,
	// into the buffer spliced.
	gomail  bytes.Buffer
	splicer splicer
	spliced []byte
}

// render renders msg into r, once: go-mail renders a message anew each
// time it is written, so everything after this (signing, sending) works on
// these bytes.
func (r *rendering) render(msg *gomail.Msg) error {
	r.signature, r.body, r.crlf = nil, nil, false
	r.dots.at = r.dots.at[:0]
	r.gomail.Reset()
	r.splicer.parts = r.splicer.parts[:0]
	if _, err := msg.WriteTo(&r.gomail); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if len(r.splicer.parts) == 0 {
		r.body = r.gomail.Bytes()
		return nil
	}
	var err error
	r.spliced, r.crlf, err = r.splicer.splice(r.spliced[:0], r.gomail.Bytes(), &r.dots)
	r.body = r.spliced
	return err
}

// sign signs the rendering with signer; nothing when signer is nil. The
// signature field goes first, where receivers look for it and where
// adding it changes nothing of what it signs.
func (r *rendering) sign(signer *dkim.Signer) error {
	r.signature = nil
	if signer == nil {
		return nil
	}
	value, err := signer.Sign(r.body)
	if err != nil {
		return fmt.Errorf("dkim sign: %w", err)
	}
	r.signature = []byte(dkim.HeaderName + ": " + value + "\r\n")
	return nil
}

// writeData writes the rendering as the content of DATA.
func (r *rendering) writeData(w *smtpclient.DataWriter) error {
	if _, err := w.Write(r.signature); err != nil {
		return err
	}
	if !r.crlf {
		_, err := w.Write(r.body)
		return err
	}
	return w.WriteDotted(r.body, r.dots.at)
}
