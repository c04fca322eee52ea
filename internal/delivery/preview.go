package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/render"
)

// Preview is what a pass would send one reader at a given instant, worked
// out by the same selection and rendering code as a real pass, with
// nothing recorded and nothing sent.
type Preview struct {
	Subscriber digest.Subscriber
	At         time.Time   // the instant previewed
	Date       digest.Date // the reader's local day at At
	DueAt      time.Time   // the reader's send time that day
	Due        bool        // At has reached DueAt
	// After is the start of the window of briefs: the watermark less the
	// late-brief grace, or At less the first-digest look-back.
	After time.Time
	// Briefs are the briefs the digest carries, in the order it shows them.
	Briefs []digest.Brief
	// Output is the rendered subject, preheader, HTML and text; empty when
	// there are no briefs (a real pass sends nothing then).
	Output render.Output
	// Message is the message a real pass would hand to the SMTP server, with
	// a placeholder Message-ID (a real one is made when the delivery is
	// planned).
	Message mailer.Message
}

// Preview works out what a pass at `at` would send sub. sub may be a stored
// subscriber (its watermark and sent deliveries count) or a made-up one
// with ID 0 (a region mix an editor wants to see): then every brief in the
// look-back window counts as new. It reads what a pass reads (brief heads
// and the reader's recent deliveries) and chooses with the same
// digest.Selection; only the whole briefs chosen are then loaded.
func (o *Outbox) Preview(ctx context.Context, sub digest.Subscriber, at time.Time) (Preview, error) {
	loc, err := o.location(sub.TimeZone)
	if err != nil {
		return Preview{}, err
	}
	day := sub.SendTime.DayAt(at, loc)
	pv := Preview{Subscriber: sub, At: at, Date: day.Date, DueAt: day.SendAt, Due: day.Due(),
		After: o.selection.WindowStart(sub.Watermark, day.Local)}
	candidates := digest.NewCandidates(o.opts.Regions, at)
	if err := candidates.Cover(pv.After, func(from, to time.Time) ([]digest.BriefHead, error) {
		return o.store.BriefHeads(ctx, from, to)
	}); err != nil {
		return Preview{}, fmt.Errorf("gather briefs: %w", err)
	}
	var history []digest.Delivery
	if sub.ID != 0 {
		if history, err = o.store.RecentDeliveries(ctx, []int64{sub.ID}, day.Date, pv.After); err != nil {
			return Preview{}, fmt.Errorf("gather briefs: %w", err)
		}
	}
	ids := o.selection.Select(nil, candidates, &sub, history, at)
	if len(ids) == 0 {
		return pv, nil
	}
	if pv.Briefs, err = o.store.BriefsByID(ctx, ids); err != nil {
		return Preview{}, fmt.Errorf("gather briefs: %w", err)
	}
	del := digest.Delivery{Cutoff: day.Local.UTC(), DigestDate: pv.Date}
	if pv.Output, err = o.render(sub, del, pv.Briefs); err != nil {
		return Preview{}, err
	}
	pv.Message = o.message(sub, pv.Output.Subject, o.links.Unsubscribe(sub.ID), "<preview."+strings.ReplaceAll(string(pv.Date), "-", "")+"@"+o.opts.MessageIDDomain+">", at)
	pv.Message.Text, pv.Message.HTML = mailer.StringBody(pv.Output.Text), mailer.StringBody(pv.Output.HTML)
	return pv, nil
}

// message is the mailer.Message of a digest without its body, which the
// caller sets (a preview as strings, a worker in pieces); the pass and
// previews share it so a preview carries exactly the headers a real send
// does. unsubscribeURL is the reader's, as the body links it (the pass has
// it from the render input: signing it again per message would be wasted).
func (o *Outbox) message(sub digest.Subscriber, subject, unsubscribeURL, messageID string, date time.Time) mailer.Message {
	return mailer.Message{
		MessageID:      messageID,
		From:           o.opts.From,
		ToName:         sub.Name,
		ToEmail:        sub.Email,
		Subject:        subject,
		Date:           date,
		ListID:         o.opts.ListID,
		UnsubscribeURL: unsubscribeURL,
	}
}

// TestMessage is the preview as an editor's test email to `to`, dated now:
// "[TEST]" before the subject and a Message-ID of its own under the From
// address's domain, so that it is never taken for (or threaded with) the
// reader's real digest; every other header and the body are the
// preview's. Nothing about it is recorded.
func (pv Preview) TestMessage(to string, now time.Time) (mailer.Message, error) {
	m := pv.Message
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return mailer.Message{}, fmt.Errorf("from: %w", err)
	}
	var id [12]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	m.MessageID = "<test." + hex.EncodeToString(id[:]) + "@" + domain + ">"
	m.Subject = "[TEST] " + m.Subject
	m.ToName, m.ToEmail = "", to
	m.Date = now
	return m, nil
}

// render renders a delivery for its reader, as a group of one (previews;
// a pass's workers and dry runs share groups through renderGroups).
func (o *Outbox) render(sub digest.Subscriber, d digest.Delivery, briefs []digest.Brief) (render.Output, error) {
	in, err := o.renderInput(sub, d, briefs)
	if err != nil {
		return render.Output{}, err
	}
	return o.renderer.Render(in)
}
