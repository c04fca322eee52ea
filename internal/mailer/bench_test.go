package mailer

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// digestSized returns sampleMessage grown to the size of a real digest
// (about 12 KB of text and 22 KB of HTML, some of it non-ASCII), to the
// recipient number n.
func digestSized(n int) Message {
	m := messageTo(n, fmt.Sprintf("reader%d@example.com", n))
	var text, html strings.Builder
	text.WriteString(m.Text.String())
	html.WriteString("<!doctype html><html><head><meta charset=\"utf-8\"><title>Morning Digest</title></head><body>\n")
	for i := 0; text.Len() < 12<<10; i++ {
		fmt.Fprintf(&text, "%d. %s\n   Read more: https://news.example.org/briefs/%d\n\n", i+1, longLine, 1000+i)
		fmt.Fprintf(&html, "<article class=\"brief\"><h2><a href=\"https://news.example.org/briefs/%d\">Brief %d — Zoë’s region</a></h2>\n<p>%s</p></article>\n", 1000+i, i+1, longLine)
	}
	for html.Len() < 22<<10 {
		html.WriteString("<p style=\"margin:0 0 12px 0;font-family:Georgia,serif;font-size:16px;line-height:1.5\">" + longLine + "</p>\n")
	}
	html.WriteString("</body></html>\n")
	m.Text, m.HTML = StringBody(text.String()), StringBody(html.String())
	return m
}

// BenchmarkSend measures one Send of a digest-sized message over a reused
// loopback connection to an in-process server that discards what it gets,
// with and without 8BITMIME on the server, and with a DKIM signature. The
// server runs in the same process, so its CPU is part of ns/op.
func BenchmarkSend(b *testing.B) {
	m := digestSized(1)
	for _, bc := range []struct {
		name       string
		no8BitMIME bool
		dkim       string
	}{
		{"qp", true, ""},
		{"8bit", false, ""},
		{"qp-ed25519", true, "ed25519"},
		{"8bit-ed25519", false, "ed25519"},
		{"8bit-spliced", false, ""},
	} {
		m := m
		if strings.HasSuffix(bc.name, "-spliced") {
			m = splicedDigest(m)
		}
		b.Run(bc.name, func(b *testing.B) {
			srv := startEnvelopeServer(b, serverOptions{no8BitMIME: bc.no8BitMIME, discard: true})
			cfg := Config{Host: srv.Host(), Port: srv.Port(), TLS: TLSNone, HELO: "digest.test", Timeout: waitTimeout}
			if bc.dkim != "" {
				cfg.DKIM, _ = testSigner(b, bc.dkim)
			}
			s, err := NewSender(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ReportAllocs()
			b.SetBytes(int64(m.Text.Len() + m.HTML.Len()))
			cpu0 := processCPU(b)
			for b.Loop() {
				if err := s.Send(b.Context(), m); err != nil {
					b.Fatal(err)
				}
			}
			// The whole process: the sender and the in-process server.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// splicedDigest returns m with its text and HTML given in parts, as a
// digest's are: cut in a few places, with a reader's name, address and
// links between the pieces.
func splicedDigest(m Message) Message {
	values := []string{"Zoë O'Brien", "reader1@example.com",
		"https://news.example.org/u/AbCdEf0123456789?s=1", "https://news.example.org/p/AbCdEf0123456789"}
	cut := func(s string) Body {
		var pieces []string
		for i := range values {
			at := (i + 1) * len(s) / (len(values) + 2)
			pieces, s = append(pieces, s[:at]), s[at:]
		}
		return NewShared(append(pieces, s)).Body(values)
	}
	m.Text, m.HTML = cut(m.Text.String()), cut(m.HTML.String())
	return m
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWriteMessage measures what a Sender does for one message on a
// server with 8BITMIME, with as little server as can be: build it, render
// it, and send it over a reused, pipelined loopback session to an
// in-process server that reads the DATA up to its final "." and drops it
// (dataServer), for a digest given as strings and as spliced parts. The
// server's CPU is part of the figures, as in BenchmarkSend, whose go-smtp
// server does more per message.
func BenchmarkWriteMessage(b *testing.B) {
	m := digestSized(1)
	for _, bc := range []struct {
		name string
		m    Message
	}{
		{"strings", m},
		{"spliced", splicedDigest(m)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var (
				r    rendering
				memo repeated
			)
			srv := startDataServer(b, false)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				msg, _, err := build(bc.m, &memo, &r.splicer)
				if err != nil {
					b.Fatal(err)
				}
				if err := r.render(msg); err != nil {
					b.Fatal(err)
				}
				srv.send(b, true, r.writeData)
			}
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
