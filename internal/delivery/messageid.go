package delivery

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"

	digest "github.com/newsroom/digest"
)

// messageIDs makes the Message-IDs of new deliveries, stored with them so
// every re-send carries the same one. An ID says nothing about the reader:
// the digest date, the planning instant in nanoseconds, and 48 random
// bits, so that IDs from two databases never collide. The instant comes
// before the random part so that the IDs of a pass sort in the order they
// are made: each new row then lands at the end of the message_id unique
// index instead of at a random page of it, which would make storing a
// large plan touch most of the index.
//
// The random bits are read from crypto/rand a few hundred IDs' worth at a
// time, and the ID is built by appending, because a read and a formatting
// call per ID are a visible share of deciding a large plan. It is not safe
// for concurrent use; a pass's planner has its own.
type messageIDs struct {
	domain string
	random []byte // unused random bytes, taken from the front
	buf    []byte // scratch for building an ID
}

// randomPerID is how many random bytes each Message-ID carries.
const randomPerID = 6

// randomBatch is how many IDs' random bytes one read from crypto/rand
// fetches.
const randomBatch = 512

func newMessageIDs(domain string) *messageIDs { return &messageIDs{domain: domain} }

// next returns a Message-ID for a new delivery of the given digest date,
// planned at the given instant. crypto/rand.Read cannot fail (since Go
// 1.24 it crashes the program rather than return an error), so neither
// can next.
func (g *messageIDs) next(date digest.Date, at time.Time) string {
	if len(g.random) < randomPerID {
		g.random = make([]byte, randomPerID*randomBatch)
		_, _ = rand.Read(g.random)
	}
	var b [8 + randomPerID]byte
	binary.BigEndian.PutUint64(b[:8], uint64(at.UnixNano()))
	copy(b[8:], g.random[:randomPerID])
	g.random = g.random[randomPerID:]

	id := append(g.buf[:0], "<digest."...)
	for i := 0; i < len(date); i++ {
		if date[i] != '-' {
			id = append(id, date[i])
		}
	}
	id = append(id, '.')
	id = hex.AppendEncode(id, b[:])
	id = append(id, '@')
	id = append(id, g.domain...)
	id = append(id, '>')
	g.buf = id
	return string(id)
}
