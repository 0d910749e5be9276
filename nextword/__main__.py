from nextword.cli.main import main

main()
