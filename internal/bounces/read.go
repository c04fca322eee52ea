package bounces

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Result is one message read from a path.
type Result struct {
	// Source names the message: "bounces/x.eml", or "mail.mbox#12" for the
	// 12th message of an mbox (1-based); standard input is "stdin".
	Source  string
	Reports []Report
	// Err is why the message gave no reports: errors.Is(Err, ErrNotABounce)
	// for mail that is not a bounce, ErrTooLarge, or an unreadable message.
	Err error
}

// readPath reads a file (a single message, or an mbox when its first line
// starts with "From "), a directory (recursively; every regular file, in
// lexical order; dotfiles and dot-directories skipped), or "-" (stdin, with
// the same detection), and calls fn once for each message. A message that
// cannot be parsed is reported in Result.Err, never dropped. readPath stops
// at the first error from fn, or when ctx is done, and returns it; it
// returns an error of its own only when path itself cannot be opened.
func readPath(ctx context.Context, path string, stdin io.Reader, fn func(Result) error) error {
	if path == "-" {
		return readStream(ctx, "stdin", stdin, fn)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("read bounces: %w", err)
	}
	if !info.IsDir() {
		return readFile(ctx, path, fn)
	}
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			if p == path {
				return fmt.Errorf("read bounces: %w", err)
			}
			// An unreadable subdirectory is reported like a bad message,
			// and the walk goes on.
			if cbErr := fn(Result{Source: p, Err: err}); cbErr != nil {
				return fmt.Errorf("%s: %w", p, cbErr)
			}
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type().IsRegular():
		case d.Type()&fs.ModeSymlink != 0:
			// A link to a file is read; links to directories are not
			// followed, so a loop cannot trap the walk.
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
				return nil
			}
		default:
			return nil
		}
		return readFile(ctx, p, fn)
	})
}

// readFile reads one file as a message or an mbox.
func readFile(ctx context.Context, path string, fn func(Result) error) error {
	f, err := os.Open(path)
	if err != nil {
		if cbErr := fn(Result{Source: path, Err: err}); cbErr != nil {
			return fmt.Errorf("%s: %w", path, cbErr)
		}
		return nil
	}
	defer f.Close()
	return readStream(ctx, path, f, fn)
}

// readStream reads one message, or an mbox when the first line starts with
// "From ".
func readStream(ctx context.Context, source string, r io.Reader, fn func(Result) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(5)
	if err != nil && !errors.Is(err, io.EOF) {
		return deliver(source, Result{Source: source, Err: fmt.Errorf("read: %w", err)}, fn)
	}
	if string(head) == "From " {
		return readMbox(ctx, source, br, fn)
	}
	reports, err := parse(br)
	return deliver(source, Result{Source: source, Reports: reports, Err: err}, fn)
}

// deliver passes res to fn, wrapping fn's error with the source.
func deliver(source string, res Result, fn func(Result) error) error {
	if err := fn(res); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	return nil
}

// readMbox splits an mbox into messages. A message starts at a line
// beginning "From " that follows a blank line (or starts the file);
// ">From " lines are unescaped one level (mboxrd, which also reads mboxo's
// single level). A body line "From " left unescaped by a careless writer
// cannot be told from a separator and splits the message, as in every mbox
// reader.
func readMbox(ctx context.Context, source string, br *bufio.Reader, fn func(Result) error) error {
	var (
		buf       bytes.Buffer
		n         int
		tooBig    bool
		started   bool
		prevBlank = true
		lineStart = true
	)
	flush := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		n++
		src := fmt.Sprintf("%s#%d", source, n)
		res := Result{Source: src}
		if tooBig {
			res.Err = fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxMessageSize)
		} else {
			res.Reports, res.Err = parseMessage(buf.Bytes())
		}
		buf.Reset()
		tooBig = false
		return deliver(src, res, fn)
	}
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			complete := line[len(line)-1] == '\n'
			switch {
			case lineStart && prevBlank && bytes.HasPrefix(line, []byte("From ")):
				if started {
					if ferr := flush(); ferr != nil {
						return ferr
					}
				}
				started = true
				line = nil // the separator is not part of the message
			case lineStart && isEscapedFrom(line):
				line = line[1:]
			}
			if lineStart {
				prevBlank = len(bytes.TrimRight(line, "\r\n")) == 0 && complete && line != nil
			}
			if buf.Len()+len(line) > MaxMessageSize {
				tooBig = true
			} else if !tooBig {
				buf.Write(line)
			}
			lineStart = complete
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if !errors.Is(err, io.EOF) {
				res := Result{Source: fmt.Sprintf("%s#%d", source, n+1), Err: fmt.Errorf("read: %w", err)}
				return deliver(res.Source, res, fn)
			}
			if started {
				return flush()
			}
			return nil
		}
	}
}

// isEscapedFrom reports a mboxrd-escaped line: one or more '>' then "From ".
func isEscapedFrom(line []byte) bool {
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	return i > 0 && bytes.HasPrefix(line[i:], []byte("From "))
}
