package experiment

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcCPUCountsChildren starts a shell whose child spins, as a
// postmaster's backend works: the child's CPU time counts for the shell's
// PID while it runs and, once killed and waited for, still does.
func TestProcCPUCountsChildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", `(while :; do :; done) & echo $!; wait $!; sleep 10`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the shell, its child and sleep
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	sh := cmd.Process.Pid
	const enough = 200 * time.Millisecond
	// Polled, not slept: on a loaded machine the child gets its CPU later.
	got := waitFor(t, "the child's CPU time counted for the shell", func() (bool, time.Duration) {
		d, err := procCPU(sh)
		if err != nil {
			t.Fatal(err)
		}
		return d >= enough, d
	})
	t.Logf("shell and its spinning child: %v", got)
	if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shell waiting for its killed child", func() (bool, time.Duration) {
		_, err := os.Stat("/proc/" + strconv.Itoa(child))
		return errors.Is(err, fs.ErrNotExist), 0
	})
	d, err := procCPU(sh)
	if err != nil {
		t.Fatal(err)
	}
	own, err := readStat(sh)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the child ended: %v, the shell alone %v, its waited-for children %v", d, own.cpu, own.waited)
	if d < got {
		t.Errorf("the shell's CPU time dropped from %v to %v when its child ended", got, d)
	}
	if own.cpu > 100*time.Millisecond {
		t.Errorf("the shell alone used %v: the test measures its child, not it", own.cpu)
	}
}

// waitFor polls ok every 20ms for up to 10s and returns its last value.
func waitFor(t *testing.T, what string, ok func() (bool, time.Duration)) time.Duration {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		done, v := ok()
		if done {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s (last %v)", what, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProcCPUThisProcess reads this process alone: a child it started
// and that ended does not count.
func TestProcCPUThisProcess(t *testing.T) {
	self := func() (time.Duration, procStat) {
		d, err := procCPU(0)
		if err != nil {
			t.Fatal(err)
		}
		st, err := readStat(0)
		if err != nil {
			t.Fatal(err)
		}
		return d, st
	}
	before, st0 := self()
	if err := exec.Command("sh", "-c", `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done`).Run(); err != nil {
		t.Fatal(err)
	}
	after, st1 := self()
	child := st1.waited - st0.waited
	t.Logf("this process %v then %v; its child %v", before, after, child)
	if child < 50*time.Millisecond {
		t.Skipf("the child used only %v: too little to tell", child)
	}
	if after-before >= child {
		t.Errorf("this process's CPU time grew by %v: its child's %v counted with it", after-before, child)
	}
}

// TestParseStat reads a stat line whose command name holds spaces and
// parentheses.
func TestParseStat(t *testing.T) {
	line := "4242 (post (gres) ) x) S 17 4242 4242 0 -1 4194560 1523 0 0 0 " +
		"250 30 120 7 20 0 1 0 123456 216662016 3001 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{ppid: 17, cpu: 2800 * time.Millisecond, waited: 1270 * time.Millisecond}
	if st != want {
		t.Errorf("parseStat = %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "4242 (sh", "4242 (sh) S 1 2 3", "4242 (sh) S x 4242 4242 0 -1 0 0 0 0 0 1 2 3 4"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}
