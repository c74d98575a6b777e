package sandboxcore

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
)

// killUID sends SIGKILL to every process whose real or saved uid is uid:
// kill(-1) reaches every process the caller may signal, and the caller is
// one thread of the server running as that uid.
func killUID(uid int) error {
	if uid <= 0 {
		return fmt.Errorf("refusing to kill the processes of uid %d", uid)
	}
	return asUser(uid, -1, func() error {
		_, _, e := syscall.RawSyscall(syscall.SYS_KILL, ^uintptr(0), uintptr(syscall.SIGKILL), 0)
		// ESRCH: there was nothing to signal at all.
		if e != 0 && !errors.Is(e, syscall.ESRCH) {
			return fmt.Errorf("kill the processes of uid %d: %w", uid, e)
		}
		return nil
	})
}

// asUser runs fn on one OS thread whose real and effective uid (and gid,
// unless gid is -1) are switched to the given ids. Raw setresuid changes
// the calling thread only (Go's syscall.Setresuid would change every
// thread). The saved ids stay 0, which is what lets the thread switch back;
// were that to fail, the thread stays locked and the runtime discards it
// with its goroutine. fn must not block or start goroutines.
func asUser(uid, gid int, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if gid >= 0 {
			if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, uintptr(gid), uintptr(gid), 0); e != 0 {
				runtime.UnlockOSThread()
				done <- fmt.Errorf("become gid %d: %w", gid, e)
				return
			}
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(uid), uintptr(uid), 0); e != 0 {
			restoreGID(gid)
			done <- fmt.Errorf("become uid %d: %w", uid, e)
			return
		}
		err := fn()
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, 0, 0, 0); e != 0 {
			done <- fmt.Errorf("switch back from uid %d: %w", uid, e)
			return // still locked: this thread ends with the goroutine
		}
		restoreGID(gid)
		done <- err
	}()
	return <-done
}

// restoreGID switches the locked thread's gid back to 0 and unlocks it, or
// leaves it locked (to be discarded) if that fails.
func restoreGID(gid int) {
	if gid >= 0 {
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, 0, 0, 0); e != 0 {
			return
		}
	}
	runtime.UnlockOSThread()
}
