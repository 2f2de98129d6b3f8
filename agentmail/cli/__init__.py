def main() -> None:
    pass


def sendmail_main() -> None:
    pass
