"""The system libraries a portable Linux bundle leaves to the host: the AppImage excludelist.

The .tar.gz runs on distributions we never built for, so it carries the libraries
PyInstaller copied from the build machine (xcb-util-*, libxkbcommon, GLib, OpenSSL, ...)
that a minimal desktop may lack or have in an older ABI. But some libraries every
desktop Linux has, and a bundled copy of them breaks: it is loaded in place of the
host's, and the host's own libraries loaded into the same process (GL drivers, font
configuration, input methods) then meet an older or mismatched one. The portable-binary
community keeps the list of those: the AppImage project's ``excludelist``
(github.com/AppImageCommunity/pkg2appimage, file ``excludelist``; linuxdeploy and
linuxdeployqt generate theirs from it). :data:`EXCLUDELIST` is that list, grouped by the
reasons it gives, with entries it comments out left out (GLib and its consequences,
libselinux, Kerberos, p11-kit, NSS, OpenSSL: those the bundle keeps).

One rule, one place: the .deb leaves *every* Debian-packaged library to the system
(``deb.drop_system_libraries`` without a filter: Depends bring them); the .tar.gz leaves
only these (``deb.drop_system_libraries(..., leave=left_to_the_host)``).
"""

from __future__ import annotations

#: Why each group is safe (the host has it) and better left to the host (a copy breaks).
EXCLUDELIST: dict[str, tuple[str, ...]] = {
    # The GNU C library: never bundled (PyInstaller leaves it already); the bundle's own
    # libpython needs glibc >= 2.35, which is the floor the tarball runs on anyway.
    "glibc": ("ld-linux.so.2", "ld-linux-x86-64.so.2", "libanl.so.1", "libBrokenLocale.so.1", "libcidn.so.1",
              "libc.so.6", "libdl.so.2", "libm.so.6", "libmvec.so.1", "libnss_compat.so.2", "libnss_dns.so.2",
              "libnss_files.so.2", "libnss_hesiod.so.2", "libnss_nisplus.so.2", "libnss_nis.so.2",
              "libpthread.so.0", "libresolv.so.2", "librt.so.1", "libthread_db.so.1", "libutil.so.1"),
    # GCC's runtime: a bundled libstdc++ older than the host's breaks every host C++ library
    # loaded into the process ("GLIBCXX_3.4.x not found": Mesa's LLVM, input-method and
    # theme plugins). Safe to leave: the bundled Qt, PySide6 and shiboken need at most
    # GLIBCXX_3.4.29 / CXXABI_1.3.13 (GCC 11), which every glibc >= 2.35 distribution has.
    "gcc runtime": ("libstdc++.so.6", "libgcc_s.so.1"),
    # The graphics driver's side of OpenGL/EGL and Mesa: must match the host's driver and
    # kernel DRM (a bundled libGL cannot load the host's DRI driver). The app paints with
    # the raster engine and the bundle has no GL integration, but a future one must not
    # bring these.
    "graphics driver": ("libGL.so.1", "libEGL.so.1", "libGLdispatch.so.0", "libGLX.so.0", "libOpenGL.so.0",
                        "libdrm.so.2", "libglapi.so.0", "libgbm.so.1", "libxcb-dri2.so.0", "libxcb-dri3.so.0",
                        "libwayland-client.so.0"),
    # The X client core: every X11 desktop has it, and a bundled copy older than the host's
    # xcb extensions fails with undefined symbols (xcb_wait_for_reply64, xcb_send_fd).
    # The xcb-util-* and extension libraries Qt's xcb plugin needs stay bundled: a minimal
    # desktop may lack them.
    "X client core": ("libxcb.so.1", "libX11.so.6", "libX11-xcb.so.1"),
    # Fonts: a bundled fontconfig older than the host's /etc/fonts configuration fails to
    # parse it (no fonts, or a stalled start); freetype and harfbuzz go with it so the
    # host's fontconfig never meets an older freetype.
    "fonts": ("libfontconfig.so.1", "libfreetype.so.6", "libharfbuzz.so.0", "libfribidi.so.0"),
    # Sound and audio servers: must match the host's ALSA configuration and server ABI.
    "sound": ("libasound.so.2", "libjack.so.0", "libpipewire-0.3.so.0"),
    # The base system (every distribution's minimal install; coreutils, systemd and
    # util-linux need them), with stable ABIs; libgpg-error must match the host's libgcrypt.
    "base system": ("libcom_err.so.2", "libexpat.so.1", "libgpg-error.so.0", "libICE.so.6", "libSM.so.6",
                    "libusb-1.0.so.0", "libuuid.so.1", "libz.so.1", "libgmp.so.10"),
}
_NAMES = frozenset(name for group in EXCLUDELIST.values() for name in group)


def left_to_the_host(library: str) -> bool:
    """True for a library (file name, as bundled) that a portable bundle must not carry."""
    return library in _NAMES
