package delivery

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	digest "github.com/newsroom/digest"
)

// newMessageID returns a Message-ID for a new delivery: random, so that IDs
// from two databases never collide and reveal nothing about the reader, and
// stored with the delivery so every re-send carries the same one.
func newMessageID(date digest.Date, domain string) (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	return fmt.Sprintf("<digest.%s.%s@%s>", strings.ReplaceAll(string(date), "-", ""), hex.EncodeToString(b[:]), domain), nil
}
