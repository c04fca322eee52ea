package delivery

import (
	"log/slog"
	"sync"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/render"
)

// renderGroups renders each distinct digest of a pass once. Readers with
// the same digest date, region order and briefs share a render.Prepared,
// and each reader's copy is spliced from it (render.Personalize), which
// is byte for byte what a full render would give. It lives for one pass:
// a group holds its briefs.
type renderGroups struct {
	renderer Renderer
	logger   *slog.Logger
	mu       sync.Mutex
	byKey    map[string]*group
	slowOnce sync.Once
}

// group is one distinct digest, prepared by the first reader who needs it
// while the others wait.
type group struct {
	once     sync.Once
	prepared *render.Prepared
	err      error
}

func newRenderGroups(r Renderer, logger *slog.Logger) *renderGroups {
	return &renderGroups{renderer: r, logger: logger, byKey: map[string]*group{}}
}

// render returns in's digest.
func (g *renderGroups) render(in render.Input) (render.Output, error) {
	key, err := g.renderer.GroupKey(in)
	if err != nil {
		return render.Output{}, err
	}
	g.mu.Lock()
	gr, ok := g.byKey[key]
	if !ok {
		gr = &group{}
		g.byKey[key] = gr
	}
	g.mu.Unlock()
	gr.once.Do(func() { gr.prepared, gr.err = g.renderer.Prepare(in) })
	if gr.err != nil {
		return render.Output{}, gr.err
	}
	if !gr.prepared.Exact() {
		g.slowOnce.Do(func() {
			g.logger.Warn("the templates are rendered in full for every reader, which is slow at scale",
				"reason", gr.prepared.Reason())
		})
	}
	return gr.prepared.Personalize(render.ReaderOf(in))
}

// renderInput is the render input of a delivery for its reader, as of the
// delivery's cut-off in the reader's zone.
func (p *Pass) renderInput(sub digest.Subscriber, d digest.Delivery, briefs []digest.Brief) (render.Input, error) {
	loc, err := p.location(sub.TimeZone)
	if err != nil {
		return render.Input{}, err
	}
	return render.Input{
		Subscriber:     sub,
		Now:            d.Cutoff.In(loc),
		Briefs:         briefs,
		UnsubscribeURL: p.links.Unsubscribe(sub.ID),
		PreferencesURL: p.links.Preferences(sub.ID),
	}, nil
}
