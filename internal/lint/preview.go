package lint

import "github.com/newsroom/digest/internal/delivery"

// CheckPreview lints the digest of a preview (what a pass would send one
// reader), as `digest lint` and the editor's preview page both show it;
// postalAddress is the configured postal_address. A preview with no
// briefs has no digest: callers skip it.
func CheckPreview(pv delivery.Preview, postalAddress string) []Finding {
	return Check(Input{Subject: pv.Output.Subject, Preheader: pv.Output.Preheader, HTML: pv.Output.HTML, Text: pv.Output.Text,
		Briefs: pv.Briefs, UnsubscribeURL: pv.Message.UnsubscribeURL, PostalAddress: postalAddress})
}
