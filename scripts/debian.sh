# Sourced by the scripts that need a Debian package the test set-up may install.
# `debian_install SCRIPT PACKAGE`: installs PACKAGE from Debian's archive when we are root; else
# says what is missing, in SCRIPT's name, and exits.
debian_install() {
    local who=$1 package=$2
    if [[ $(id -u) -ne 0 ]]; then
        echo "$who: needs Debian's $package (apt-get install $package), and is not root" >&2
        exit 1
    fi
    echo "$who: installing Debian's $package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "$package" >&2
}
