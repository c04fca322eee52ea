package lint

import (
	"testing"

	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/render"
)

// A preview is linted as the digest it renders, with the reader's
// unsubscribe link from its message and the configured postal address.
func TestCheckPreview(t *testing.T) {
	in := goodInput()
	pv := delivery.Preview{
		Briefs:  in.Briefs,
		Output:  render.Output{Subject: in.Subject, Preheader: in.Preheader, HTML: in.HTML, Text: in.Text},
		Message: mailer.Message{UnsubscribeURL: in.UnsubscribeURL},
	}
	if fs := CheckPreview(pv, postal); len(fs) != 0 {
		t.Errorf("a clean preview got findings: %+v", fs)
	}
	pv.Message.UnsubscribeURL = "https://news.example.org/digest/unsubscribe/SOMEONE-ELSE"
	if fs := CheckPreview(pv, postal); !hasRule(fs, "unsubscribe-missing") {
		t.Errorf("another reader's unsubscribe link: %+v", fs)
	}
	pv.Message.UnsubscribeURL = in.UnsubscribeURL
	if fs := CheckPreview(pv, "9 Other Street\nElsewhere"); !hasRule(fs, "postal-missing") {
		t.Errorf("a postal address the digest lacks: %+v", fs)
	}
}

func hasRule(fs []Finding, rule string) bool {
	for _, f := range fs {
		if f.Rule == rule {
			return true
		}
	}
	return false
}
