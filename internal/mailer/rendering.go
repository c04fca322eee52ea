package mailer

import (
	"bytes"
	"fmt"

	gomail "github.com/wneessen/go-mail"

	"github.com/newsroom/digest/internal/dkim"
)

// rendering is a message as it goes over the wire: the DKIM-Signature
// field (nil when unsigned), then the rest of the message, with CRLF line
// ends. A Sender keeps one and reuses its buffer for every message.
type rendering struct {
	signature []byte
	body      bytes.Buffer
	// splicer holds the 8bit parts of a message built with it (see build)
	// until render splices them into go-mail's rendering, which render
	// writes into skeleton first.
	splicer  splicer
	skeleton bytes.Buffer
}

// render renders msg into r, once: go-mail renders a message anew each
// time it is written, so everything after this (signing, sending) works on
// these bytes.
func (r *rendering) render(msg *gomail.Msg) error {
	r.signature = nil
	r.body.Reset()
	r.splicer.parts = r.splicer.parts[:0]
	if _, err := msg.WriteTo(&r.body); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if len(r.splicer.parts) == 0 {
		return nil
	}
	// What was written is the skeleton; the message is built from it.
	r.body, r.skeleton = r.skeleton, r.body
	r.body.Reset()
	return r.splicer.splice(&r.body, r.skeleton.Bytes())
}

// sign signs the rendering with signer; nothing when signer is nil. The
// signature field goes first, where receivers look for it and where
// adding it changes nothing of what it signs.
func (r *rendering) sign(signer *dkim.Signer) error {
	r.signature = nil
	if signer == nil {
		return nil
	}
	value, err := signer.Sign(r.body.Bytes())
	if err != nil {
		return fmt.Errorf("dkim sign: %w", err)
	}
	r.signature = []byte(dkim.HeaderName + ": " + value + "\r\n")
	return nil
}
