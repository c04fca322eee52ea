package render

import (
	htmltemplate "html/template"
	"sync"
)

// mdCacheSize bounds the Markdown cache. A pass renders the same few
// hundred brief bodies for every reader; when more distinct ones than this
// go by, the cache starts over rather than grow.
const mdCacheSize = 4096

// mdCache remembers rendered Markdown by its source and wrap width. It is
// keyed by content, not by brief ID, so an edited brief can never be served
// stale, and it is safe for the concurrent workers of a pass.
type mdCache struct {
	mu sync.Mutex
	m  map[mdKey]mdOut
}

type mdKey struct {
	src   string
	width int
}

type mdOut struct {
	html htmltemplate.HTML
	text string
}

func (c *mdCache) get(src string, width int) (mdOut, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[mdKey{src, width}]
	return v, ok
}

func (c *mdCache) put(src string, width int, v mdOut) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= mdCacheSize {
		c.m = make(map[mdKey]mdOut)
	}
	c.m[mdKey{src, width}] = v
}
