//go:build linux

package cli

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// execInNetNS replaces the process with argv0 inside the network
// namespace at nsPath; with dns set, in a mount namespace of its own whose
// /etc/resolv.conf names that resolver. It returns only on failure.
func execInNetNS(nsPath, dns, argv0 string, argv, env []string) error {
	runtime.LockOSThread() // the exec'ing thread must be the one in the namespaces
	fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the host's namespace %s: %w (vnet exec runs on the machine that runs peerplane serve)", nsPath, err)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		return fmt.Errorf("%s is not a network namespace", nsPath)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter the host's namespace %s: %w (vnet exec needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN)", nsPath, err)
	}
	unix.Close(fd)
	if dns != "" {
		if err := useResolver(dns); err != nil {
			return fmt.Errorf("point the command at the VNet's resolver %s: %w", dns, err)
		}
	}
	if err := unix.Exec(argv0, argv, env); err != nil {
		return fmt.Errorf("run %s: %w", argv0, err)
	}
	return nil
}

// useResolver moves the calling thread into a new mount namespace whose
// mounts are all private (nothing done here propagates to the host's
// namespace) and bind-mounts a resolv.conf naming dns over
// /etc/resolv.conf. The file is unlinked once mounted: nothing is left
// behind.
func useResolver(dns string) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("new mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	f, err := os.CreateTemp("", "peerplane-resolv-*.conf")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = fmt.Fprintf(f, "# peerplane vnet exec: the VNet's resolver\nnameserver %s\noptions edns0\n", dns)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := unix.Mount(f.Name(), "/etc/resolv.conf", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount over /etc/resolv.conf: %w", err)
	}
	return nil
}
