package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/newsroom/digest/internal/mailer"
)

// RawLimit sends one pre-built message n times over conns connections with
// go-mail's own client (lean sessions: no NOOP, no RSET), as fast as it
// can: what sending costs when nothing is planned, rendered or recorded.
// It is not a ceiling for a pass: go-mail's client does not pipeline MAIL,
// RCPT and DATA and copies 8bit parts once more, which mailer.Sender does
// not. build
// is called once per connection (a go-mail Msg must not be written by two
// goroutines at once) and should return a mailer.Build message: on a
// server that offers 8BITMIME its parts are switched to 8bit as
// mailer.Sender would. It returns the wall time.
func RawLimit(ctx context.Context, host string, port, conns, n int, build func() (*gomail.Msg, error)) (time.Duration, error) {
	start := time.Now()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	per := n / conns
	for w := range conns {
		count := per
		if w == conns-1 {
			count = n - per*(conns-1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, err := build()
			if err == nil {
				err = sendMany(ctx, host, port, count, msg)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return 0, fmt.Errorf("raw limit: %w", errs[0])
	}
	return time.Since(start), nil
}

// sendMany sends msg count times on one connection. When the server offers
// 8BITMIME the parts go as 8bit where their lines allow it, exactly as
// mailer.Sender would send them, so that the pass and this limit pay for
// the same encoding.
func sendMany(ctx context.Context, host string, port, count int, msg *gomail.Msg) error {
	c, err := gomail.NewClient(host, gomail.WithPort(port), gomail.WithTLSPolicy(gomail.NoTLS),
		gomail.WithoutNoop(), gomail.WithoutRset(), gomail.WithTimeout(30*time.Second))
	if err != nil {
		return err
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.CloseWithSMTPClient(conn) }()
	if ok, _ := conn.Extension("8BITMIME"); ok {
		if err := mailer.UseEightBit(msg); err != nil {
			return err
		}
	}
	for range count {
		if err := c.SendWithSMTPClient(conn, msg); err != nil {
			return err
		}
	}
	return nil
}
