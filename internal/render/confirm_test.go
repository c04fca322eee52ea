package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/templates"
)

func confirmFixture() ConfirmInput {
	return ConfirmInput{
		Subscriber: digest.Subscriber{
			ID: 7, Email: "adaeze@example.com", Name: "Adaeze Okonkwo-Brandt",
			Regions: []string{"lagos", "brussels"}, Status: digest.StatusPending,
		},
		ConfirmURL: "https://brief.example.com/confirm/AQAAAAAAAAAH-token",
		ValidFor:   7 * 24 * time.Hour,
	}
}

func TestConfirmGolden(t *testing.T) {
	out, err := newRenderer(t).Confirm(confirmFixture())
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	files := map[string]string{
		"confirm.html":        out.HTML,
		"confirm.txt":         out.Text,
		"confirm_subject.txt": "Subject: " + out.Subject + "\n",
	}
	for name, got := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s; run go test -update and review the diff\n%s", name, path, firstDiff(string(want), got))
			}
		})
	}
}

// The confirmation email follows the digest's rules for email HTML, and
// both parts carry what the reader needs: the link, the address, the
// editions, how long the link works.
func TestConfirmStructureAndContent(t *testing.T) {
	r := newRenderer(t)
	for _, in := range append(sampleConfirmInputs(), confirmFixture()) {
		t.Run(in.Subscriber.Email, func(t *testing.T) {
			out, err := r.Confirm(in)
			if err != nil {
				t.Fatalf("Confirm: %v", err)
			}
			if !strings.HasPrefix(out.HTML, "<!DOCTYPE html>") {
				t.Error("HTML does not start with <!DOCTYPE html>")
			}
			doc := parseHTML(t, out.HTML)
			for _, p := range append(layoutProblems(doc), unsafeHTML(doc)...) {
				t.Error(p)
			}
			if strings.Contains(strings.ToLower(out.HTML), "<script") {
				t.Error("HTML has a script")
			}
			if out.Text == "" || out.Subject == "" || strings.Contains(out.Subject, "\n") {
				t.Fatalf("text %q, subject %q", out.Text, out.Subject)
			}
			for _, part := range []struct{ name, body string }{{"HTML", textContent(doc) + out.HTML}, {"text", out.Text}} {
				for _, want := range []string{in.ConfirmURL, in.Subscriber.Email, "did not ask"} {
					if !strings.Contains(part.body, want) {
						t.Errorf("%s part lacks %q", part.name, want)
					}
				}
			}
		})
	}
	out, err := r.Confirm(confirmFixture())
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(out.Text), " ")
	for _, want := range []string{"Lagos and Brussels editions", "works for 7 days", "Hello, Adaeze Okonkwo-Brandt.", "12 Marina Road"} {
		if !strings.Contains(flat, want) {
			t.Errorf("text part lacks %q:\n%s", want, out.Text)
		}
	}
}

func TestConfirmHostileAndBadInput(t *testing.T) {
	r := newRenderer(t)
	in := confirmFixture()
	in.Subscriber.Name = "Eve\r\nBcc: victim@example.com <script>alert(1)</script>"
	out, err := r.Confirm(in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.HTML, "<script>") || strings.Contains(out.Text, "\nBcc:") {
		t.Errorf("a hostile name reached the output unescaped:\n%s\n%s", out.HTML, out.Text)
	}
	for _, u := range []string{"", "javascript:alert(1)", "/confirm/x", "ftp://example.com/x"} {
		in := confirmFixture()
		in.ConfirmURL = u
		if _, err := r.Confirm(in); err == nil || !strings.Contains(err.Error(), "confirm URL") {
			t.Errorf("confirm URL %q: err = %v, want one naming the confirm URL", u, err)
		}
	}
}

// A templates_dir from before the confirmation email has none of its
// files: the built-in ones stand in. One with a broken or a missing
// confirmation template stops start-up, naming the file.
func TestConfirmTemplatesDir(t *testing.T) {
	digestOnly := templateFS(t, htmlFile, mustRead(t, htmlFile))
	r, err := New(digestOnly, Options{Regions: testRegions(t)})
	if err != nil {
		t.Fatalf("templates_dir without confirmation templates: %v", err)
	}
	if _, err := r.Confirm(confirmFixture()); err != nil {
		t.Fatalf("Confirm with the built-in stand-ins: %v", err)
	}

	withConfirm := func(name, content string) fstest.MapFS {
		fsys := templateFS(t, htmlFile, mustRead(t, htmlFile))
		for _, n := range []string{confirmHTMLFile, confirmTextFile, confirmSubjectFile} {
			fsys[n] = &fstest.MapFile{Data: []byte(mustRead(t, n))}
		}
		if content == "" {
			delete(fsys, name)
		} else {
			fsys[name] = &fstest.MapFile{Data: []byte(content)}
		}
		return fsys
	}
	tests := []struct {
		name string
		fsys fstest.MapFS
		want []string
	}{
		{"unknown field", withConfirm(confirmTextFile, "line one\n{{.ConfirmLink}}\n"), []string{"confirm.txt.tmpl:2", "ConfirmLink"}},
		{"parse error", withConfirm(confirmHTMLFile, "<p>{{if}}</p>"), []string{"confirm.html.tmpl:1"}},
		{"one file missing", withConfirm(confirmSubjectFile, ""), []string{confirmSubjectFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.fsys, Options{Regions: testRegions(t)})
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := templates.FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSpokenDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{-time.Hour, ""},
		{168 * time.Hour, "7 days"},
		{24 * time.Hour, "1 day"},
		{36 * time.Hour, "36 hours"},
		{time.Hour, "1 hour"},
		{90 * time.Minute, "90 minutes"},
		{time.Second, "1 minute"},
	}
	for _, tt := range tests {
		if got := spokenDuration(tt.d); got != tt.want {
			t.Errorf("spokenDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
