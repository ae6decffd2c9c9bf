"""limo_rl.toy"""
