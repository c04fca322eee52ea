package preview

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce is how long the watcher waits after a change for more: an
// editor's save is often several events (write, chmod, rename), and a
// briefs import touches many files.
const debounce = 200 * time.Millisecond

// broker hands "reload" to every open /events stream.
type broker struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func newBroker() *broker { return &broker{subs: make(map[chan struct{}]struct{})} }

// subscribe returns a channel that receives after each change, and the
// function that stops it. A slow page misses nothing that matters: one
// pending reload stands for any number.
func (b *broker) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

func (b *broker) publish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// eventStream is GET /events: Server-Sent Events, one "reload" event per
// (debounced) change of a watched file.
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	ch, stop := s.events.subscribe()
	defer stop()
	// A comment line first, so the browser sees the stream open at once.
	if _, err := fmt.Fprint(w, ": watching\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ch:
			if _, err := fmt.Fprint(w, "event: reload\ndata: changed\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// Watch watches dirs (and every directory below them) until ctx is done.
// After a change and a quiet of 200ms it calls reload, when not nil (to
// parse changed templates again; an error is shown on the page until a
// later reload succeeds), then tells every open page to reload. Empty
// entries of dirs are skipped. The watches are in place when Watch
// returns; a directory that does not exist is an error then. done is
// closed when the watcher has stopped.
func (s *Server) Watch(ctx context.Context, reload func(ctx context.Context) error, dirs ...string) (done <-chan struct{}, err error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("start file watcher: %w", err)
	}
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		if err := addTree(w, dir); err != nil {
			w.Close()
			return nil, err
		}
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer w.Close()
		s.watch(ctx, w, reload)
	}()
	return ch, nil
}

// watch is the loop of Watch.
func (s *Server) watch(ctx context.Context, w *fsnotify.Watcher, reload func(ctx context.Context) error) {
	// The timer fires once per burst of changes; it is stopped until the
	// first one.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) {
				// A new subdirectory (a new edition's briefs) is watched too.
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					if err := addTree(w, ev.Name); err != nil {
						s.logger.Warn("watch new directory", "dir", ev.Name, "err", err)
					}
				}
			}
			if ev.Op == fsnotify.Chmod {
				continue // touch, backups changing modes: the content is the same
			}
			s.logger.Debug("file changed", "file", ev.Name, "op", ev.Op.String())
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			// An overflow loses events, not the watch: reload to be safe.
			s.logger.Warn("file watcher", "err", err)
			timer.Reset(debounce)
		case <-timer.C:
			if reload != nil {
				err := reload(ctx)
				if err != nil {
					s.logger.Error("reload after change failed; previews use the last good templates", "err", err)
				}
				s.setReloadError(err)
			}
			s.events.publish()
		}
	}
}

// addTree watches dir and every directory below it: fsnotify watches one
// directory, not a tree.
func addTree(w *fsnotify.Watcher, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("watch %s: not a directory", dir)
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return fmt.Errorf("watch %s: %w", path, err)
		}
		if !d.IsDir() {
			return nil
		}
		if err := w.Add(path); err != nil {
			return fmt.Errorf("watch %s: %w", path, err)
		}
		return nil
	})
}
