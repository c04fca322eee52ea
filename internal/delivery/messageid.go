package delivery

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
)

// newMessageID returns a Message-ID for a new delivery, stored with it so
// every re-send carries the same one. It says nothing about the reader: the
// digest date, the planning instant in nanoseconds, and 48 random bits, so
// that IDs from two databases never collide. The instant comes before the
// random part so that the IDs of a pass sort in the order they are made:
// each new row then lands at the end of the message_id unique index
// instead of at a random page of it, which at a million deliveries was a
// large part of the cost of storing a plan.
func newMessageID(date digest.Date, domain string, at time.Time) (string, error) {
	var b [14]byte
	binary.BigEndian.PutUint64(b[:8], uint64(at.UnixNano()))
	if _, err := rand.Read(b[8:]); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	return fmt.Sprintf("<digest.%s.%s@%s>", strings.ReplaceAll(string(date), "-", ""), hex.EncodeToString(b[:]), domain), nil
}
