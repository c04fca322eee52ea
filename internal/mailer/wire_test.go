package mailer

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/newsroom/digest/internal/smtpclient"
)

// dataServer is a session of smtpclient to a minimal SMTP server on
// 127.0.0.1 that hands back the content of each DATA exactly as it came
// off the wire: dot-stuffed, CRLF line ends, the terminating "." included.
// go-smtp (and so smtpsink) undoes the stuffing before a backend sees a
// message, so the tests of wire bytes use this one. The server offers
// PIPELINING and 8BITMIME and accepts every command; it serves the one
// session.
type dataServer struct {
	client *smtpclient.Client
	keep   bool
	data   chan []byte // each message's DATA, when kept
}

// startDataServer starts a dataServer and dials it; when keep is false the
// server drops what it reads, for benchmarks.
func startDataServer(tb testing.TB, keep bool) *dataServer {
	tb.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &dataServer{keep: keep, data: make(chan []byte, 1)}
	conns := make(chan net.Conn, 1)
	served := make(chan struct{})
	go func() {
		defer close(served)
		conn, err := l.Accept()
		if err != nil {
			return
		}
		conns <- conn
		defer conn.Close()
		s.serve(conn)
	}()
	tb.Cleanup(func() {
		if s.client != nil {
			_ = s.client.Quit()
		}
		_ = l.Close()
		select {
		case conn := <-conns:
			_ = conn.Close()
		default:
		}
		<-served
	})
	s.client, err = smtpclient.Dial(tb.Context(), smtpclient.Config{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port,
		Security: smtpclient.NoTLS, LocalName: "digest.test", Timeout: waitTimeout})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// send runs one mail transaction with content and returns its DATA as the
// server read it (nil when the server does not keep it).
func (s *dataServer) send(tb testing.TB, eightBit bool, content func(*smtpclient.DataWriter) error) []byte {
	tb.Helper()
	env := smtpclient.Envelope{From: "bounces@example.org", To: []string{"reader@example.com"}, EightBitMIME: eightBit}
	if err := s.client.Send(tb.Context(), env, content, nil); err != nil {
		tb.Fatal(err)
	}
	if !s.keep {
		return nil
	}
	return <-s.data
}

// serve answers one session until QUIT or an error: replies are flushed
// when no pipelined command is waiting.
func (s *dataServer) serve(conn net.Conn) {
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	w.WriteString("220 localhost ready\r\n")
	if w.Flush() != nil {
		return
	}
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			w.WriteString("250-localhost\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
		case "DATA":
			w.WriteString("354 go ahead\r\n")
			if w.Flush() != nil {
				return
			}
			data, err := s.readData(r)
			if err != nil {
				return
			}
			if s.keep {
				s.data <- data
			}
			w.WriteString("250 kept\r\n")
		case "QUIT":
			w.WriteString("221 bye\r\n")
			_ = w.Flush()
			return
		default:
			w.WriteString("250 ok\r\n")
		}
		if r.Buffered() == 0 && w.Flush() != nil {
			return
		}
	}
}

// readData reads DATA content up to and with the line "."; it keeps the
// bytes only when s.keep.
func (s *dataServer) readData(r *bufio.Reader) ([]byte, error) {
	var data []byte
	bol := true // at the beginning of a line
	for {
		chunk, err := r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
		if s.keep {
			data = append(data, chunk...)
		}
		if bol && string(chunk) == ".\r\n" {
			return data, nil
		}
		bol = err == nil
	}
}
