package smtpsink

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync"
)

// trackingListener numbers and counts accepted connections and remembers
// the open ones, so DropConnections and Close can cut them. It also does
// the implicit-TLS wrapping, and lets the sink take a connection away from
// go-smtp before the greeting (a fault at StageConnect).
type trackingListener struct {
	net.Listener
	// tlsConfig, when set, wraps every connection in server-side TLS.
	tlsConfig *tls.Config
	// divert, when set, may take a new connection (raw is the TCP
	// connection, c what go-smtp would get) and handle it itself; it
	// reports whether it did.
	divert func(raw *trackedConn, c net.Conn) bool
	// noPipelining hides PIPELINING from the EHLO reply (Options).
	noPipelining bool

	mu    sync.Mutex
	count int
	open  map[*trackedConn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		l.count++
		tc := &trackedConn{Conn: c, l: l, seq: l.count}
		l.open[tc] = struct{}{}
		l.mu.Unlock()

		var conn net.Conn = tc
		if l.tlsConfig != nil {
			conn = tls.Server(tc, l.tlsConfig)
		}
		if l.noPipelining {
			conn = withoutPipelining{conn}
		}
		if l.divert != nil && l.divert(tc, conn) {
			continue
		}
		return conn, nil
	}
}

func (l *trackingListener) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

func (l *trackingListener) closeAll() int {
	l.mu.Lock()
	conns := make([]*trackedConn, 0, len(l.open))
	for c := range l.open {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	return len(conns)
}

// trackedConn is one accepted TCP connection.
type trackedConn struct {
	net.Conn
	l    *trackingListener
	seq  int // 1 for the first connection accepted
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.open, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// rawConn returns the TCP connection under c (which may be TLS), so a
// fault can cut it without a TLS goodbye; nil if c is not the sink's.
func rawConn(c net.Conn) *trackedConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	raw, _ := c.(*trackedConn)
	return raw
}

// withoutPipelining drops the PIPELINING line from the server's EHLO
// reply. go-smtp writes each reply in one call, and PIPELINING is never its
// last line, so the line is always whole and always "250-PIPELINING".
type withoutPipelining struct{ net.Conn }

var pipeliningLine = []byte("250-PIPELINING\r\n")

func (c withoutPipelining) Write(p []byte) (int, error) {
	if !bytes.Contains(p, pipeliningLine) {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(bytes.ReplaceAll(p, pipeliningLine, nil)); err != nil {
		return 0, err
	}
	return len(p), nil
}
