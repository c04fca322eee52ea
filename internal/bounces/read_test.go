package bounces

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// outcome is what a test keeps of one Result.
type outcome struct {
	source    string
	recipient string // first report's recipient
	kind      Kind   // first report's kind
	err       error
}

// collectPath runs readPath and keeps every Result.
func collectPath(t *testing.T, path, stdin string) []outcome {
	t.Helper()
	var got []outcome
	err := readPath(context.Background(), path, strings.NewReader(stdin), func(r Result) error {
		o := outcome{source: r.Source, err: r.Err}
		if len(r.Reports) > 0 {
			o.recipient, o.kind = r.Reports[0].Recipient, r.Reports[0].Kind
		}
		got = append(got, o)
		return nil
	})
	if err != nil {
		t.Fatalf("readPath(%q): %v", path, err)
	}
	return got
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadPathMbox(t *testing.T) {
	var reports []Report
	var sources []string
	err := readPath(context.Background(), "testdata/three.mbox", nil, func(r Result) error {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Source, r.Err)
		}
		sources = append(sources, r.Source)
		reports = append(reports, r.Reports...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantSources := []string{"testdata/three.mbox#1", "testdata/three.mbox#2", "testdata/three.mbox#3"}
	if strings.Join(sources, " ") != strings.Join(wantSources, " ") {
		t.Fatalf("sources %q, want %q", sources, wantSources)
	}
	want := []want{
		{Hard, "kijitora@example.ne.jp", "5.5.0", "<000000000.9999999999999.JavaMail.postmaster@mailhub>"},
		{Hard, "userunknown@example.jp", "5.1.1", "<D992C2C3-F175-4C4D-97E2-53A90E4E5BF5@gmail.com>"},
		// The ">From " line in the third message's body was unescaped and
		// kept in the message, so its quoted copy (and Message-ID) survives.
		{Soft, "xxxx@yyyyyy.net", "", "<68e0b7e3615cd_1dc7010592ed@7cf4d87f87-9r5w2.mail>"},
	}
	if len(reports) != len(want) {
		t.Fatalf("got %d reports, want %d", len(reports), len(want))
	}
	for i, w := range want {
		r := reports[i]
		if r.Kind != w.kind || r.Recipient != w.recipient || r.Status != w.status || r.OriginalMessageID != w.messageID {
			t.Errorf("message %d = {%s %q %q %q}, want %+v", i+1, r.Kind, r.Recipient, r.Status, r.OriginalMessageID, w)
		}
	}
}

func TestReadPathDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.eml"), readFixture(t, "lhost-qmail-01.eml"))
	writeFile(t, filepath.Join(dir, "b", "c.eml"), readFixture(t, "lhost-postfix-07.eml"))
	writeFile(t, filepath.Join(dir, "b", "d.mbox"), readFixture(t, "rfc3834-05.eml")) // a one-message mbox
	writeFile(t, filepath.Join(dir, "e.eml"), readFixture(t, "is-not-bounce-01.eml"))
	writeFile(t, filepath.Join(dir, "garbage.bin"), []byte("\x00\x01\x02 not mail at all \xff\xfe"))
	writeFile(t, filepath.Join(dir, ".hidden.eml"), readFixture(t, "lhost-qmail-03.eml"))
	writeFile(t, filepath.Join(dir, ".git", "x.eml"), readFixture(t, "lhost-qmail-05.eml"))
	if err := os.Symlink(filepath.Join(dir, "a.eml"), filepath.Join(dir, "f-link.eml")); err != nil {
		t.Fatal(err)
	}

	got := collectPath(t, dir, "")
	want := []struct {
		name      string
		recipient string
		notBounce bool
		otherErr  bool
	}{
		{name: "a.eml", recipient: "kijitora@example.ne.jp"},
		{name: "b/c.eml", recipient: "kijitora@user.example.or.jp"},
		{name: "b/d.mbox#1", notBounce: true},
		{name: "e.eml", notBounce: true},
		{name: "f-link.eml", recipient: "kijitora@example.ne.jp"},
		{name: "garbage.bin", otherErr: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.source != filepath.Join(dir, w.name) {
			t.Errorf("result %d source %q, want %q", i, g.source, filepath.Join(dir, w.name))
			continue
		}
		switch {
		case w.notBounce && !errors.Is(g.err, ErrNotABounce):
			t.Errorf("%s: err %v, want ErrNotABounce", w.name, g.err)
		case w.otherErr && (g.err == nil || errors.Is(g.err, ErrNotABounce)):
			t.Errorf("%s: err %v, want an unreadable-message error", w.name, g.err)
		case !w.notBounce && !w.otherErr && (g.err != nil || g.recipient != w.recipient):
			t.Errorf("%s: recipient %q err %v, want %q", w.name, g.recipient, g.err, w.recipient)
		}
	}
}

func TestReadPathStdin(t *testing.T) {
	t.Run("message", func(t *testing.T) {
		got := collectPath(t, "-", string(readFixture(t, "lhost-gmail-06.eml")))
		if len(got) != 1 || got[0].source != "stdin" || got[0].err != nil || got[0].kind != Soft || got[0].recipient != "kijitora@example.jp" {
			t.Fatalf("got %+v, want one soft bounce for kijitora@example.jp from stdin", got)
		}
	})
	t.Run("mbox", func(t *testing.T) {
		mbox, err := os.ReadFile("testdata/three.mbox")
		if err != nil {
			t.Fatal(err)
		}
		got := collectPath(t, "-", string(mbox))
		if len(got) != 3 || got[0].source != "stdin#1" || got[2].source != "stdin#3" {
			t.Fatalf("got %+v, want stdin#1..3", got)
		}
	})
	t.Run("empty", func(t *testing.T) {
		got := collectPath(t, "-", "")
		if len(got) != 1 || got[0].err == nil {
			t.Fatalf("got %+v, want one result with an error", got)
		}
	})
}

func TestReadPathErrors(t *testing.T) {
	t.Run("missing path", func(t *testing.T) {
		err := readPath(context.Background(), filepath.Join(t.TempDir(), "nope"), nil, func(Result) error { return nil })
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err %v, want not-exist", err)
		}
	})
	t.Run("garbage file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "junk.eml")
		writeFile(t, path, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
		got := collectPath(t, path, "")
		if len(got) != 1 || got[0].source != path || got[0].err == nil || errors.Is(got[0].err, ErrNotABounce) {
			t.Fatalf("got %+v, want one unreadable-message result for %s", got, path)
		}
	})
	t.Run("oversized message in mbox", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "big.mbox")
		big := "From a@b  Thu Jan  1 00:00:00 2026\nSubject: x\n\n" + strings.Repeat("y", MaxMessageSize) +
			"\n\nFrom a@b  Thu Jan  1 00:00:00 2026\n" + string(readFixture(t, "lhost-qmail-01.eml"))
		writeFile(t, path, []byte(big))
		got := collectPath(t, path, "")
		if len(got) != 2 || !errors.Is(got[0].err, ErrTooLarge) || got[1].recipient != "kijitora@example.ne.jp" {
			t.Fatalf("got %+v, want a too-large #1 and a readable #2", got)
		}
	})
	t.Run("callback error stops", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := readPath(context.Background(), "testdata/three.mbox", nil, func(Result) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("err %v after %d calls, want stop after 1", err, calls)
		}
	})
}

func TestReadPathCancel(t *testing.T) {
	for _, path := range []string{"testdata/three.mbox", "testdata/fixtures"} {
		t.Run(path, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			err := readPath(ctx, path, nil, func(Result) error {
				calls++
				cancel()
				return nil
			})
			if !errors.Is(err, context.Canceled) || calls != 1 {
				t.Fatalf("err %v after %d calls, want context.Canceled after 1", err, calls)
			}
		})
	}
}
