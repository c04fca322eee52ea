package delivery

import (
	"log/slog"
	"sync"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/render"
)

// renderGroups renders each distinct digest of a pass once. Readers with
// the same digest date, region order and briefs share a render.Prepared,
// and each reader's copy is made from it (render.PersonalizeSplit for the
// workers, render.Personalize for dry runs), as a preview's is. It lives
// for one pass: a group holds its briefs.
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
	// shared holds the mailer's scan of each part's shared pieces, made
	// by the first reader who needs it, keyed by the address of the
	// part's first piece: render.Split says the pieces are the Prepared's
	// own, one slice per part and shape for the life of the pass.
	shared sync.Map // *string → *mailer.Shared
}

func newRenderGroups(r Renderer, logger *slog.Logger) *renderGroups {
	return &renderGroups{renderer: r, logger: logger, byKey: map[string]*group{}}
}

// render returns in's digest.
func (g *renderGroups) render(in render.Input) (render.Output, error) {
	gr, err := g.group(in)
	if err != nil {
		return render.Output{}, err
	}
	return gr.prepared.Personalize(render.ReaderOf(in))
}

// group returns the prepared group of in's digest.
func (g *renderGroups) group(in render.Input) (*group, error) {
	key, err := g.renderer.GroupKey(in)
	if err != nil {
		return nil, err
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
		return nil, gr.err
	}
	if !gr.prepared.Exact() {
		g.slowOnce.Do(func() {
			g.logger.Warn("the templates are rendered in full for every reader, which is slow at scale",
				"reason", gr.prepared.Reason())
		})
	}
	return gr, nil
}

// bodies is a reader's digest as a worker sends it: the text and HTML
// parts in pieces shared with the other readers of the group, which the
// mailer need not scan again for each of them, and the subject in split.
type bodies struct {
	text, html mailer.Body
	// split is the worker's, reused from reader to reader; text and html
	// hold its Values until the next reader.
	split render.Split
}

// renderBodies puts in's digest in b, for a message whose Text and HTML
// are b's parts.
func (g *renderGroups) renderBodies(in render.Input, b *bodies) error {
	gr, err := g.group(in)
	if err != nil {
		return err
	}
	if err := gr.prepared.PersonalizeSplit(render.ReaderOf(in), &b.split); err != nil {
		return err
	}
	b.text = gr.spliced(b.split.Text, b.split.Shared)
	b.html = gr.spliced(b.split.HTML, b.split.Shared)
	return nil
}

// spliced returns p as the mailer takes it. Pieces of a reader rendered in
// full are the reader's own and are scanned for this message alone.
func (gr *group) spliced(p render.Pieces, shared bool) mailer.Body {
	if !shared {
		return mailer.NewShared(p.Fixed).Body(p.Values)
	}
	key := &p.Fixed[0]
	if s, ok := gr.shared.Load(key); ok {
		return s.(*mailer.Shared).Body(p.Values)
	}
	s, _ := gr.shared.LoadOrStore(key, mailer.NewShared(p.Fixed))
	return s.(*mailer.Shared).Body(p.Values)
}

// renderInput is the render input of a delivery for its reader, as of the
// delivery's cut-off in the reader's zone.
func (o *Outbox) renderInput(sub digest.Subscriber, d digest.Delivery, briefs []digest.Brief) (render.Input, error) {
	loc, err := o.location(sub.TimeZone)
	if err != nil {
		return render.Input{}, err
	}
	return render.Input{
		Subscriber:     sub,
		Now:            d.Cutoff.In(loc),
		Briefs:         briefs,
		UnsubscribeURL: o.links.Unsubscribe(sub.ID),
		PreferencesURL: o.links.Preferences(sub.ID),
	}, nil
}
