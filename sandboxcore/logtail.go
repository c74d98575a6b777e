package sandboxcore

import (
	"io"
	"sync"
)

// logTailSize is how much of a fork server's own log is kept.
const logTailSize = 8 << 10

// logTail drains a log pipe for as long as its writer lives, keeping only
// the newest bytes: a long-lived writer must never block on a full pipe.
type logTail struct {
	mu  sync.Mutex
	buf []byte
}

func newLogTail(r io.ReadCloser) *logTail {
	t := &logTail{}
	go func() {
		defer r.Close()
		chunk := make([]byte, 4096)
		for {
			n, err := r.Read(chunk)
			if n > 0 {
				t.mu.Lock()
				t.buf = append(t.buf, chunk[:n]...)
				if len(t.buf) > logTailSize {
					t.buf = append(t.buf[:0], t.buf[len(t.buf)-logTailSize:]...)
				}
				t.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	return t
}

func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
