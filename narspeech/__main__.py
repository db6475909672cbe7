from narspeech.cli.main import main

main()
