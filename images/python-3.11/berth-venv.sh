# Installed as /etc/profile.d/berth-venv.sh by the berth/python image.
case ":$PATH:" in
    *:/opt/berth/venv/bin:*) ;;
    *) PATH="/opt/berth/venv/bin:$PATH" ;;
esac
export PATH VIRTUAL_ENV=/opt/berth/venv
