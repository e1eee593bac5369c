package child

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
)

// keepOutput bounds what a Proc keeps of its output: the last bytes.
const keepOutput = 64 << 10

// Proc is a child process: its output kept (the last 64 KiB), stopped
// with SIGTERM as a deployment stops it.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  []byte
	err  error
}

// Start starts bin with args, its environment this process's with env on
// top; it dies with this process.
func Start(name, bin string, env []string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	DieWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Write keeps the last keepOutput bytes of the process's output.
func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = append(p.out, b...)
	if n := len(p.out) - keepOutput; n > 0 {
		p.out = append(p.out[:0], p.out[n:]...)
	}
	return len(b), nil
}

// Output is what the process has written (the last 64 KiB).
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.out)
}

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// WaitOutput waits, up to within, until the process has written s; an
// exit before it is an error with the end of its output.
func (p *Proc) WaitOutput(ctx context.Context, s string, within time.Duration) error {
	err := poll.For(ctx, within, poll.Every(50*time.Millisecond), func(context.Context) (bool, error) {
		if strings.Contains(p.Output(), s) {
			return true, nil
		}
		if gone, err := p.Exited(); gone {
			return false, fmt.Errorf("%s exited (%v) before it wrote %q: %s", p.Name, err, s, p.Tail(1024))
		}
		return false, nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s did not write %q within %s: %s", p.Name, s, within, p.Tail(1024))
	}
	return err
}

// Stop sends SIGTERM and waits for the process to drain and end, up to
// within; then it is killed. It reports an exit other than a clean one.
func (p *Proc) Stop(within time.Duration) error {
	if gone, err := p.Exited(); gone {
		return err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(within):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM: killed", p.Name, within)
	}
	_, err := p.Exited()
	return err
}

// Kill ends the process at once.
func (p *Proc) Kill() {
	if gone, _ := p.Exited(); !gone {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Tail is the last n bytes of the output, on one line.
func (p *Proc) Tail(n int) string {
	out := p.Output()
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(strings.Fields(out), " ")
}
