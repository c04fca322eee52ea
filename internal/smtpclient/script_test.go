package smtpclient

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A script is one SMTP session as the server sees it, a line at a time:
//
//	S: text       the server writes text and CRLF (S: lines in a row go in one write)
//	C: text       the client's next line must be text
//	C: <data>     the client sends DATA content up to its final "."; the server keeps it
//	C: <cut>      the client sends DATA content and hangs up before the final "."
//	C: <eof>      the client hangs up
//	S: <close>    the server hangs up
//	S: <stall>    the server reads on and never answers
//	S: <starttls> the server starts TLS with the script's certificate
//	S: <starttls?> the same, and the client is to refuse the certificate
//	S: <flood->   the server writes "250-" lines without end
//	S: <flood>    the server writes one line without end and without CRLF
//
// C: lines in a row with no S: line between them must come without a
// reply between them (PIPELINING); a C: line after an S: line must not
// have come before that reply.

// scriptServer plays a script to the one client that connects to it.
type scriptServer struct {
	addr   *net.TCPAddr
	done   chan struct{}
	data   []string // the DATA contents received, as on the wire (dot-stuffed)
	failed []string // what went against the script
	gotDot atomic.Bool
}

func startScript(t *testing.T, script string, serverTLS *tls.Config) *scriptServer {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptServer{addr: l.Addr().(*net.TCPAddr), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		conn, err := l.Accept()
		_ = l.Close()
		if err != nil {
			s.failed = append(s.failed, "accept: "+err.Error())
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(waitTimeout))
		s.play(conn, script, serverTLS)
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-s.done
	})
	return s
}

// wait returns once the script has run (or the server gave up), and
// reports what went against the script.
func (s *scriptServer) wait(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(waitTimeout):
		t.Fatal("the script did not finish")
	}
	for _, f := range s.failed {
		t.Errorf("server: %s", f)
	}
}

func (s *scriptServer) fail(format string, args ...any) {
	s.failed = append(s.failed, fmt.Sprintf(format, args...))
}

func (s *scriptServer) play(conn net.Conn, script string, serverTLS *tls.Config) {
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	var lines []string
	for _, line := range strings.Split(script, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	replied := true // a reply went since the client's last line
	for i, line := range lines {
		who, what, _ := strings.Cut(line, ": ")
		if who == "S" {
			replied = true
		}
		// A reply is due right after this line from the client.
		answered := i+1 < len(lines) && strings.HasPrefix(lines[i+1], "S: ")
		if who == "C" {
			_ = w.Flush()
		}
		switch {
		case who == "S" && what == "<close>":
			_ = w.Flush()
			return
		case who == "S" && what == "<stall>":
			_ = w.Flush()
			_, _ = io.Copy(io.Discard, r)
			return
		case who == "S" && (what == "<starttls>" || what == "<starttls?>"):
			_ = w.Flush()
			tc := tls.Server(conn, serverTLS)
			err := tc.Handshake()
			if what == "<starttls?>" {
				if err == nil {
					s.fail("TLS handshake succeeded, want the client to refuse it")
				}
				return
			}
			if err != nil {
				s.fail("TLS handshake: %v", err)
				return
			}
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
		case who == "S" && what == "<flood->":
			_ = w.Flush()
			for {
				if _, err := w.WriteString("250-" + strings.Repeat("x", 60) + "\r\n"); err != nil {
					return
				}
			}
		case who == "S" && what == "<flood>":
			_, _ = w.WriteString("250 ")
			for {
				if _, err := w.WriteString(strings.Repeat("x", 1000)); err != nil {
					return
				}
			}
		case who == "S":
			_, _ = w.WriteString(what + "\r\n")
		case who == "C" && what == "<eof>":
			if got, err := r.ReadString('\n'); err != io.EOF {
				s.fail("client sent %q (%v), want it to hang up", got, err)
			}
			return
		case who == "C" && (what == "<data>" || what == "<cut>"):
			data, ended := readData(r)
			s.data = append(s.data, data)
			s.gotDot.Store(ended)
			if ended != (what == "<data>") {
				s.fail("DATA ended with its final dot: %v, want %v", ended, what == "<data>")
			}
			if !ended {
				return
			}
		case who == "C":
			if !replied && r.Buffered() == 0 {
				s.fail("client waited for a reply before %q; want it pipelined", what)
			}
			got, err := r.ReadString('\n')
			if err != nil {
				s.fail("want %q from the client, got %v", what, err)
				return
			}
			if got = strings.TrimSuffix(got, "\r\n"); got != what {
				s.fail("client sent %q, want %q", got, what)
				return
			}
			if answered && r.Buffered() > 0 {
				peek, _ := r.Peek(r.Buffered())
				s.fail("client sent %q before the reply to %q; want it to wait", peek, got)
			}
			replied = false
		default:
			s.fail("bad script line %q", line)
			return
		}
	}
	_ = w.Flush()
}

// readData reads DATA content up to its final "." line, returning it as
// sent (dot-stuffing and all) and whether the final dot came.
func readData(r *bufio.Reader) (string, bool) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.WriteString(line)
			return b.String(), false
		}
		if line == ".\r\n" {
			return b.String(), true
		}
		b.WriteString(line)
	}
}

var errTest = errors.New("test")
